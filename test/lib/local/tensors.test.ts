import assert from 'node:assert/strict';
import { fromHalf, isDynamic, toHalf } from '../../../lib/local/tensors';

describe('tensor helpers', () => {
  it('converts float16 both ways, with IEEE values at the edges', () => {
    const known: Array<[number, number]> = [
      [0, 0x0000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [2 ** -24, 0x0001],
      [Infinity, 0x7c00],
    ];
    for (const [value, bits] of known) {
      assert.equal(toHalf(value), bits, String(value));
      assert.equal(fromHalf(bits), value);
    }
    assert.equal(toHalf(1e6), 0x7c00, 'overflow becomes infinity');
    assert.ok(Number.isNaN(fromHalf(toHalf(Number.NaN))));
    for (const value of [0.1, -3.14159, 1234.5, 1e-5]) assert.ok(Math.abs(fromHalf(toHalf(value)) - value) <= Math.abs(value) * 1e-3 + 6e-8, String(value));
  });

  it('treats symbolic and negative dimensions as dynamic', () => {
    assert.equal(isDynamic('batch'), true);
    assert.equal(isDynamic(-1), true);
    assert.equal(isDynamic(2), false);
  });
});
