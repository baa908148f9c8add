import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidRequestError } from '../contract';
import { ProviderError } from '../http';
import type { HttpClient } from '../http';
import { removeQuietly, temporaryBeside, writeFileAtomically } from './atomic';
import { appendToGallery } from './gallery';
import { detectImageType, imageSize } from './image-type';
import type { ImageMimeType } from './image-type';
import { expandTemplate, isInside, resolveInside } from './paths';
import type { NameTokens } from './paths';
import { PngChunkInserter, a1111Parameters, pngTextChunk } from './png-text';
import type { GenerationMetadata } from './png-text';

export type CollisionPolicy = 'unique' | 'overwrite' | 'skip';

export interface SaveTarget {
  /** Absolute directory every file stays inside. */
  baseDir: string;
  template: string;
  collision: CollisionPolicy;
  /** Larger images are refused (and nothing is left on disk). */
  maxBytes: number;
}

export interface ImageSource {
  data?: Buffer;
  url?: string;
}

export interface SavedFile {
  path: string;
  bytes: number;
  mimeType: ImageMimeType;
  sha256: string;
  width?: number;
  height?: number;
  /** With collision "skip": a file of that name existed, and this image was not written. */
  skipped?: boolean;
}

const EXTENSIONS: Record<ImageMimeType, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' };
/** Enough of the file to find its dimensions (a JPEG's frame header can follow large EXIF blocks). */
const HEAD_BYTES = 256 * 1024;

/**
 * Checks the bytes as they pass: refuses anything that is not PNG, JPEG or WebP by its magic
 * bytes, and anything over the size cap, keeping only the head for the dimensions.
 */
class ImageGate extends Transform {
  mimeType?: ImageMimeType;
  bytes = 0;
  head = Buffer.alloc(0);

  constructor(
    private readonly maxBytes: number,
    private readonly describe: string,
  ) {
    super();
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += data.length;
    if (this.bytes > this.maxBytes) return callback(new InvalidRequestError(`${this.describe} is larger than the ${this.maxBytes}-byte limit`));
    if (this.head.length < HEAD_BYTES) this.head = Buffer.concat([this.head, data.subarray(0, HEAD_BYTES - this.head.length)]);
    if (!this.mimeType && this.head.length >= 12) {
      this.mimeType = detectImageType(this.head);
      if (!this.mimeType) return callback(new InvalidRequestError(`${this.describe} is not a PNG, JPEG or WebP image`));
    }
    callback(null, data);
  }

  override _flush(callback: TransformCallback): void {
    if (!this.mimeType) this.mimeType = detectImageType(this.head);
    callback(this.mimeType ? null : new InvalidRequestError(`${this.describe} is not a PNG, JPEG or WebP image`));
  }
}

class Hasher extends Transform {
  private readonly hash = createHash('sha256');

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(data);
    callback(null, data);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/** Opens a source as a stream: bytes as they are, URLs through the shared HTTP client. */
async function openSource(source: ImageSource, client: HttpClient, signal?: AbortSignal): Promise<Readable> {
  if (source.data) return Readable.from([source.data]);
  const url = source.url ?? '';
  if (!/^https?:\/\//i.test(url)) throw new InvalidRequestError(`only http(s) image URLs can be saved, not "${url.slice(0, 80)}"`);
  try {
    return (await client.stream({ method: 'GET', path: url, intent: 'read', authenticate: false, rateLimited: false, signal })).body;
  } catch (error) {
    if (error instanceof ProviderError && (error.status === 404 || error.status === 410 || error.status === 403)) {
      throw client.error(
        `the image at ${url} is gone (HTTP ${error.status}): provider URLs expire (PixelDojo after 24 hours, PiAPI after 3 days), so save images promptly`,
        {},
        { kind: 'http', status: error.status, retryable: false },
      );
    }
    throw error;
  }
}

/**
 * Places the finished temporary file under its final name. `link` fails if the name exists, which
 * makes "unique" and "skip" race-free; "overwrite" is a plain atomic rename.
 */
async function place(temporary: string, final: string, collision: CollisionPolicy): Promise<{ path: string; skipped: boolean }> {
  if (collision === 'overwrite') {
    await fs.promises.rename(temporary, final);
    return { path: final, skipped: false };
  }
  const { dir, name, ext } = path.parse(final);
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const candidate = attempt === 0 ? final : path.join(dir, `${name}-${attempt}${ext}`);
    try {
      await fs.promises.link(temporary, candidate);
      await removeQuietly(temporary);
      return { path: candidate, skipped: false };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (collision === 'skip') {
        await removeQuietly(temporary);
        return { path: candidate, skipped: true };
      }
    }
  }
  throw new Error(`no free file name for ${final}`);
}

function refuseLink(relative: string, baseDir: string): InvalidRequestError {
  return new InvalidRequestError(`refused file name "${relative}": it leads outside ${baseDir} through a link`);
}

/**
 * Creates the folders of `relative` below `baseDir` one at a time, refusing any that is a link, so no
 * folder is ever made through a link (mkdir -p would follow one before any check could run).
 */
async function makeDirectoriesInside(baseDir: string, relative: string): Promise<string> {
  let current = path.resolve(baseDir);
  await fs.promises.mkdir(current, { recursive: true });
  for (const segment of relative.split('/').slice(0, -1)) {
    current = path.join(current, segment);
    await fs.promises.mkdir(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    const found = await fs.promises.lstat(current);
    if (found.isSymbolicLink()) throw refuseLink(relative, baseDir);
    if (!found.isDirectory()) throw new InvalidRequestError(`refused file name "${relative}": ${segment} is a file, not a folder`);
  }
  return current;
}

/**
 * Creates the temporary file, then asks the kernel where it really is: a folder swapped for a link
 * after the check above would have put it elsewhere, and then it is removed and the save refused.
 */
async function openInside(baseDir: string, temporary: string, relative: string): Promise<fs.promises.FileHandle> {
  const handle = await fs.promises.open(temporary, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644);
  const real = await fs.promises.realpath(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
  if (real !== undefined && !isInside(await fs.promises.realpath(baseDir), real)) {
    await handle.close();
    await removeQuietly(real);
    throw refuseLink(relative, baseDir);
  }
  return handle;
}

/**
 * Saves one image: streamed to a temporary file in the target directory (never held in memory),
 * checked, hashed, given its PNG `parameters` text, then moved to its name, with a JSON sidecar
 * and a gallery entry. On any failure no partial file is left behind.
 */
export async function saveImage(
  target: SaveTarget,
  source: ImageSource,
  meta: GenerationMetadata,
  tokens: NameTokens,
  client: HttpClient,
  signal?: AbortSignal,
): Promise<SavedFile> {
  const relative = expandTemplate(target.template, tokens);
  const stem = resolveInside(target.baseDir, relative);
  const directory = await makeDirectoriesInside(target.baseDir, relative);
  const temporary = temporaryBeside(path.join(directory, path.basename(stem)));
  const describe = source.url ? `the image at ${source.url}` : 'the image';
  const gate = new ImageGate(target.maxBytes, describe);
  const hasher = new Hasher();
  try {
    const input = await openSource(source, client, signal);
    const output = await openInside(target.baseDir, temporary, relative);
    await pipeline(
      input,
      gate,
      new PngChunkInserter((size) => pngTextChunk('parameters', a1111Parameters({ ...meta, ...size }))),
      hasher,
      output.createWriteStream(),
      {
        signal,
      },
    );
    const mimeType = gate.mimeType as ImageMimeType;
    const size = imageSize(gate.head);
    const placed = await place(temporary, `${stem}.${EXTENSIONS[mimeType]}`, target.collision);
    if (!placed.skipped && !isInside(await fs.promises.realpath(target.baseDir), await fs.promises.realpath(placed.path))) {
      // Its folder was swapped for a link while the image was written: take the file back out.
      await removeQuietly(placed.path);
      throw refuseLink(relative, target.baseDir);
    }
    const stat = await fs.promises.stat(placed.path);
    const saved: SavedFile = { path: placed.path, bytes: stat.size, mimeType, sha256: hasher.digest(), ...size };
    if (placed.skipped) return { ...saved, skipped: true };
    const record = { ...meta, ...size, sourceUrl: source.url, mimeType, sha256: saved.sha256, bytes: saved.bytes, savedAt: new Date().toISOString() };
    await writeFileAtomically(`${placed.path}.json`, JSON.stringify(record, null, 2));
    await appendToGallery(target.baseDir, { ...record, path: path.relative(target.baseDir, placed.path) });
    return saved;
  } catch (error) {
    await removeQuietly(temporary);
    if (!source.url || error instanceof InvalidRequestError || error instanceof ProviderError || signal?.aborted) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw client.error(
      `the download of ${source.url} broke off after ${gate.bytes} bytes (${reason}); nothing was saved`,
      {},
      {
        kind: 'network',
        retryable: true,
        cause: error,
      },
    );
  }
}
