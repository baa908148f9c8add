import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';

/** What a saved image records about how it was made. */
export interface GenerationMetadata {
  prompt?: string;
  negativePrompt?: string;
  model?: string;
  provider?: string;
  seed?: number;
  steps?: number;
  sampler?: string;
  cfgScale?: number;
  width?: number;
  height?: number;
  jobId?: string;
  params?: Record<string, unknown>;
  cost?: Record<string, number | undefined>;
  sourceUrl?: string;
}

/**
 * The `parameters` text AUTOMATIC1111 writes and image sites read:
 * `<prompt>\nNegative prompt: ...\nSteps: N, Sampler: ..., CFG scale: ..., Seed: N, Size: WxH, Model: ...`.
 */
export function a1111Parameters(meta: GenerationMetadata): string {
  const lines = meta.prompt ? [meta.prompt] : [];
  if (meta.negativePrompt) lines.push(`Negative prompt: ${meta.negativePrompt}`);
  const fields: Array<[string, unknown]> = [
    ['Steps', meta.steps],
    ['Sampler', meta.sampler],
    ['CFG scale', meta.cfgScale],
    ['Seed', meta.seed],
    ['Size', meta.width && meta.height ? `${meta.width}x${meta.height}` : undefined],
    ['Model', meta.model],
  ];
  const settings = fields.filter(([, value]) => value !== undefined && value !== '').map(([name, value]) => `${name}: ${String(value)}`);
  if (settings.length > 0) lines.push(settings.join(', '));
  return lines.join('\n');
}

/** One PNG chunk: length, type, data and the CRC of type + data. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** A tEXt chunk when the text is Latin-1, else an uncompressed iTXt chunk in UTF-8. */
export function pngTextChunk(keyword: string, text: string): Buffer {
  // eslint-disable-next-line no-control-regex -- tEXt holds any Latin-1 character, NUL included in the range test
  if (/^[\u0000-\u00ff]*$/.test(text)) return pngChunk('tEXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]));
  // keyword \0, compression flag 0, method 0, empty language tag \0, empty translated keyword \0, text
  return pngChunk('iTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')]));
}

/** The tEXt and iTXt chunks of a PNG, by keyword. */
export function readPngText(png: Buffer): Record<string, string> {
  const texts: Record<string, string> = {};
  for (let offset = 8; offset + 12 <= png.length;) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    const nul = data.indexOf(0);
    if (type === 'tEXt' && nul > 0) texts[data.toString('latin1', 0, nul)] = data.toString('latin1', nul + 1);
    if (type === 'iTXt' && nul > 0) {
      const language = data.indexOf(0, nul + 3);
      const translated = data.indexOf(0, language + 1);
      texts[data.toString('latin1', 0, nul)] = data.toString('utf8', translated + 1);
    }
    if (type === 'IEND') break;
    offset += 12 + length;
  }
  return texts;
}

const SIGNATURE_AND_IHDR = 8 + 25;

/**
 * Inserts a chunk right after IHDR as the PNG streams through, holding back only its first 33
 * bytes; the chunk is built from the image's size read from IHDR. Anything that is not a PNG
 * passes through untouched.
 */
export class PngChunkInserter extends Transform {
  private head: Buffer[] = [];
  private headLength = 0;
  private done = false;

  constructor(private readonly build: (size: { width: number; height: number }) => Buffer) {
    super();
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.done) return callback(null, data);
    this.head.push(data);
    this.headLength += data.length;
    if (this.headLength < SIGNATURE_AND_IHDR) return callback();
    this.release();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (!this.done) this.push(Buffer.concat(this.head));
    callback();
  }

  private release(): void {
    const head = Buffer.concat(this.head);
    this.done = true;
    this.head = [];
    const isPng = head.readUInt32BE(0) === 0x89504e47 && head.toString('latin1', 12, 16) === 'IHDR';
    if (!isPng) return void this.push(head);
    this.push(head.subarray(0, SIGNATURE_AND_IHDR));
    this.push(this.build({ width: head.readUInt32BE(16), height: head.readUInt32BE(20) }));
    this.push(head.subarray(SIGNATURE_AND_IHDR));
  }
}
