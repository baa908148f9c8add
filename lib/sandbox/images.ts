import { createHash } from 'node:crypto';
import { encodePng } from '../storage/png';

/**
 * Deterministic test images: the same (seed, size, prompt) always gives the same bytes, and
 * a different seed gives a visibly different picture. Both encoders write real, decodable files.
 */
export interface ImageSpec {
  width: number;
  height: number;
  seed: number;
  prompt?: string;
}

type Rgb = [number, number, number];

function palette(spec: ImageSpec): { from: Rgb; to: Rgb } {
  const digest = createHash('sha256')
    .update(`${spec.seed}\u0000${spec.prompt ?? ''}`)
    .digest();
  return { from: [digest[0], digest[1], digest[2]], to: [digest[3], digest[4], digest[5]] };
}

function colourAt(x: number, y: number, spec: ImageSpec, colours: { from: Rgb; to: Rgb }): Rgb {
  const t = (x / Math.max(1, spec.width - 1) + y / Math.max(1, spec.height - 1)) / 2;
  const band = ((x >> 5) + (y >> 5)) & 1 ? 16 : 0;
  return [0, 1, 2].map((i) => Math.min(255, Math.round(colours.from[i] + (colours.to[i] - colours.from[i]) * t) + band)) as Rgb;
}

export function renderPng(spec: ImageSpec): Buffer {
  const colours = palette(spec);
  const rgb = Buffer.alloc(spec.width * spec.height * 3);
  for (let y = 0; y < spec.height; y++) {
    for (let x = 0; x < spec.width; x++) rgb.set(colourAt(x, y, spec, colours), (y * spec.width + x) * 3);
  }
  return encodePng(rgb, spec.width, spec.height);
}

/** Appends bits MSB-first and applies JPEG byte stuffing (0xFF is followed by 0x00). */
class BitWriter {
  private readonly bytes: number[] = [];
  private current = 0;
  private used = 0;

  write(value: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) {
      this.current = (this.current << 1) | ((value >> i) & 1);
      if (++this.used === 8) this.flushByte();
    }
  }

  finish(): Buffer {
    if (this.used > 0) this.write(0xff, 8 - this.used); // pad with 1-bits
    return Buffer.from(this.bytes);
  }

  private flushByte(): void {
    this.bytes.push(this.current);
    if (this.current === 0xff) this.bytes.push(0);
    this.current = 0;
    this.used = 0;
  }
}

// The standard luminance DC table (ITU T.81 Annex K.3).
const DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CODES = canonicalCodes(DC_BITS);

function canonicalCodes(bits: number[]): Array<{ code: number; length: number }> {
  const codes: Array<{ code: number; length: number }> = [];
  let code = 0;
  bits.forEach((count, index) => {
    for (let i = 0; i < count; i++) codes.push({ code: code++, length: index + 1 });
    code <<= 1;
  });
  return codes;
}

function segment(marker: number, data: number[]): Buffer {
  return Buffer.from([0xff, marker, (data.length + 2) >> 8, (data.length + 2) & 0xff, ...data]);
}

/**
 * A baseline JPEG in which every 8x8 block is flat (DC coefficients only, AC = end-of-block),
 * which keeps the encoder small while producing a file any decoder reads.
 */
export function renderJpeg(spec: ImageSpec): Buffer {
  const colours = palette(spec);
  const { width, height } = spec;
  const sof = [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0];
  const dht = [0x00, ...DC_BITS, ...Array.from({ length: 12 }, (_, i) => i), 0x10, 1, ...new Array<number>(15).fill(0), 0x00];
  const sos = [3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0];
  const bits = new BitWriter();
  const previous = [0, 0, 0];
  for (let by = 0; by < Math.ceil(height / 8); by++) {
    for (let bx = 0; bx < Math.ceil(width / 8); bx++) {
      const [r, g, b] = colourAt(Math.min(width - 1, bx * 8 + 4), Math.min(height - 1, by * 8 + 4), spec, colours);
      const ycc = [0.299 * r + 0.587 * g + 0.114 * b, 128 - 0.168736 * r - 0.331264 * g + 0.5 * b, 128 + 0.5 * r - 0.418688 * g - 0.081312 * b];
      ycc.forEach((value, component) => {
        const dc = Math.round(8 * (value - 128)); // DC of a flat block; quantiser is 1
        const diff = dc - previous[component];
        previous[component] = dc;
        const category = diff === 0 ? 0 : Math.floor(Math.log2(Math.abs(diff))) + 1;
        bits.write(DC_CODES[category].code, DC_CODES[category].length);
        if (category > 0) bits.write(diff >= 0 ? diff : diff + (1 << category) - 1, category);
        bits.write(0, 1); // AC: end of block
      });
    }
  }
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]),
    segment(0xdb, [0, ...new Array<number>(64).fill(1)]),
    segment(0xc0, sof),
    segment(0xc4, dht),
    segment(0xda, sos),
    bits.finish(),
    Buffer.from([0xff, 0xd9]),
  ]);
}

/** Sizes for the aspect ratios the providers document, at about one megapixel. */
export const ASPECT_SIZES: Record<string, { width: number; height: number }> = {
  '1:1': { width: 1024, height: 1024 },
  '16:9': { width: 1344, height: 768 },
  '9:16': { width: 768, height: 1344 },
  '4:3': { width: 1024, height: 768 },
  '3:4': { width: 768, height: 1024 },
  '3:2': { width: 1216, height: 832 },
  '2:3': { width: 832, height: 1216 },
};
