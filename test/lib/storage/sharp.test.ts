import assert from 'node:assert/strict';
import { decodeRgb } from '../../../lib/storage/sharp';
import { encodePng } from '../../../lib/storage/png';

describe('lib/storage decodeRgb (an img2img input)', () => {
  it('crops an input of another shape around its centre instead of stretching it', async () => {
    // 128 x 64 in four vertical bands, 32 pixels each: red, green, blue, white.
    const bands = [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
      [255, 255, 255],
    ];
    const rgb = new Uint8Array(128 * 64 * 3);
    for (let y = 0; y < 64; y++) for (let x = 0; x < 128; x++) rgb.set(bands[Math.floor(x / 32)] as number[], (y * 128 + x) * 3);
    const square = await decodeRgb(encodePng(rgb, 128, 64), 64, 64);
    const pixel = (x: number, y: number) => Array.from(square.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3));
    // The centre 64 columns are the green and blue bands; a stretched image would start with red.
    assert.deepEqual(pixel(4, 32), [0, 255, 0]);
    assert.deepEqual(pixel(60, 32), [0, 0, 255]);
    assert.equal(square.length, 64 * 64 * 3);
  });
});
