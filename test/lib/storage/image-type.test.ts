import assert from 'node:assert/strict';
import { renderJpeg, renderPng } from '../../../lib/sandbox';
import { detectImageType, imageSize } from '../../../lib/storage/image-type';

describe('lib/storage image-type', () => {
  it('recognises PNG, JPEG and WebP by their magic bytes only', () => {
    assert.equal(detectImageType(renderPng({ width: 4, height: 4, seed: 1 })), 'image/png');
    assert.equal(detectImageType(renderJpeg({ width: 8, height: 8, seed: 1 })), 'image/jpeg');
    assert.equal(detectImageType(Buffer.from('RIFF\0\0\0\0WEBPVP8L')), 'image/webp');
    assert.equal(detectImageType(Buffer.from('<html>not an image</html>')), undefined);
    assert.equal(detectImageType(Buffer.from('{"images":[]}')), undefined);
    assert.equal(detectImageType(Buffer.alloc(0)), undefined);
  });

  it('reads the size of a PNG and a JPEG', () => {
    assert.deepEqual(imageSize(renderPng({ width: 30, height: 20, seed: 1 })), { width: 30, height: 20 });
    assert.deepEqual(imageSize(renderJpeg({ width: 72, height: 40, seed: 1 })), { width: 72, height: 40 });
    assert.equal(imageSize(Buffer.from('nope')), undefined);
  });
});
