import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InvalidRequestError } from '../contract';

/** The append-only index each base directory keeps of what was saved in it (one JSON object per line). */
export const GALLERY_FILE = '.gallery.jsonl';

export const galleryEntrySchema = z
  .object({
    path: z.string(),
    savedAt: z.string(),
    model: z.string().optional(),
    provider: z.string().optional(),
    prompt: z.string().optional(),
    seed: z.number().optional(),
    jobId: z.string().optional(),
    width: z.number().optional(),
    height: z.number().optional(),
    mimeType: z.string(),
    sha256: z.string(),
    bytes: z.number(),
  })
  .passthrough();
export type GalleryEntry = z.infer<typeof galleryEntrySchema>;

/**
 * One line per save; appends of a line are atomic, so concurrent saves never interleave. The index is
 * opened without following a link, so one planted in its place cannot send the line elsewhere.
 */
export async function appendToGallery(baseDir: string, entry: GalleryEntry): Promise<void> {
  const flags = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;
  const file = await fs.promises.open(path.join(baseDir, GALLERY_FILE), flags, 0o644).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'ELOOP' ? new InvalidRequestError(`${GALLERY_FILE} in ${baseDir} is a link: the gallery index was not written through it`) : error;
  });
  try {
    await file.appendFile(`${JSON.stringify(entry)}\n`);
  } finally {
    await file.close();
  }
}

export interface GalleryQuery {
  limit: number;
  offset: number;
  model?: string;
}

export const galleryQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
  model: z.string().min(1).optional(),
});

/** Newest first, as VisionCraft's `GET /gallery` lists; unreadable lines are skipped, not fatal. */
export async function listGallery(baseDir: string, query: GalleryQuery): Promise<{ total: number; images: GalleryEntry[] }> {
  let text: string;
  try {
    text = await fs.promises.readFile(path.join(baseDir, GALLERY_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { total: 0, images: [] };
    throw error;
  }
  const entries: GalleryEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const parsed = galleryEntrySchema.safeParse(JSON.parse(line));
      if (parsed.success && (!query.model || parsed.data.model === query.model)) entries.push(parsed.data);
    } catch {
      // A torn or hand-edited line: skip it.
    }
  }
  entries.reverse();
  return { total: entries.length, images: entries.slice(query.offset, query.offset + query.limit) };
}
