import assert from 'node:assert/strict';
import { encodePng } from '../../../lib/storage/png';
import { pngTextChunk, readPngText } from '../../../lib/storage/png-text';
import { pngSize, rgbOf } from '../../support/png';

describe('PNG encoder', () => {
  it('writes RGB pixels that decode back unchanged, with text chunks after IHDR', () => {
    const rgb = Uint8Array.from({ length: 5 * 3 * 3 }, (_, i) => (i * 37) % 256);
    const png = encodePng(rgb, 5, 3, [pngTextChunk('parameters', 'a cat\nSteps: 4')]);
    assert.deepEqual(pngSize(png), { width: 5, height: 3 });
    assert.deepEqual(rgbOf(png), rgb);
    assert.equal(readPngText(png).parameters, 'a cat\nSteps: 4');
    assert.equal(png.toString('latin1', 37, 41), 'tEXt', 'the text chunk comes right after IHDR');
  });

  it('refuses pixels that do not match the size', () => {
    assert.throws(() => encodePng(new Uint8Array(10), 2, 2), /expected 12 RGB bytes for 2x2, got 10/);
  });
});
