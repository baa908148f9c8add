import { loadSharp } from './sharp';

/** Small previews for the editor; without sharp, saving works and previews are off. */
export const THUMBNAIL_SIZE = 96;
/** Larger files are not decoded for a preview. */
const MAX_PREVIEW_SOURCE_BYTES = 50 * 1024 * 1024;

/** A data: URL of a small WebP thumbnail, or undefined when previews are unavailable or the image cannot be read. */
export async function thumbnailDataUrl(file: string, bytes: number): Promise<string | undefined> {
  if (bytes > MAX_PREVIEW_SOURCE_BYTES) return undefined;
  const load = await loadSharp();
  if (!load) return undefined;
  try {
    const thumbnail = await load(file).resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 70 }).toBuffer();
    return `data:image/webp;base64,${thumbnail.toString('base64')}`;
  } catch {
    return undefined;
  }
}

export async function previewsAvailable(): Promise<boolean> {
  return (await loadSharp()) !== undefined;
}
