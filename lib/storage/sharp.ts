/**
 * sharp (libvips, on its own threads: nothing heavy on Node-RED's event loop) is an optional
 * dependency, loaded on first use; callers get undefined when it is not installed.
 */
export interface SharpImage {
  resize(width: number, height: number, options: { fit: 'inside' | 'cover'; position?: 'centre'; withoutEnlargement?: boolean }): SharpImage;
  removeAlpha(): SharpImage;
  raw(): SharpImage;
  webp(options: { quality: number }): SharpImage;
  toBuffer(): Promise<Buffer>;
}

export type Sharp = (input: string | Buffer) => SharpImage;

let sharp: Promise<Sharp | undefined> | undefined;

export function loadSharp(): Promise<Sharp | undefined> {
  sharp ??= import('sharp').then(
    (module) => (module.default ?? module) as unknown as Sharp,
    () => undefined,
  );
  return sharp;
}

/** Packed RGB pixels of an encoded image at the given size (cropped to its shape, never stretched). */
export async function decodeRgb(image: Buffer, width: number, height: number): Promise<Buffer> {
  const load = await loadSharp();
  if (!load) throw new Error('reading an input image needs sharp: run "npm install sharp" in your Node-RED user directory');
  // Cropped to the target's shape around the centre, then scaled: an input of another shape is not stretched.
  return load(image).resize(width, height, { fit: 'cover', position: 'centre' }).removeAlpha().raw().toBuffer();
}
