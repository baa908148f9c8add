import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { renderJpeg, renderPng } from '../../../lib/sandbox';

function pngChunks(bytes: Buffer): Map<string, Buffer> {
  const chunks = new Map<string, Buffer>();
  for (let offset = 8; offset < bytes.length;) {
    const length = bytes.readUInt32BE(offset);
    chunks.set(bytes.toString('latin1', offset + 4, offset + 8), bytes.subarray(offset + 8, offset + 8 + length));
    offset += 12 + length;
  }
  return chunks;
}

describe('lib/sandbox images', () => {
  it('renders a valid PNG of the requested size whose pixel data inflates to the right length', () => {
    const png = renderPng({ width: 64, height: 40, seed: 9 });
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const chunks = pngChunks(png);
    assert.equal(chunks.get('IHDR')?.readUInt32BE(0), 64);
    assert.equal(chunks.get('IHDR')?.readUInt32BE(4), 40);
    assert.equal(inflateSync(chunks.get('IDAT') as Buffer).length, (64 * 3 + 1) * 40);
    assert.ok(chunks.has('IEND'));
  });

  it('is deterministic per seed and prompt, and differs across seeds', () => {
    const spec = { width: 32, height: 32, seed: 5, prompt: 'fox' };
    assert.ok(renderPng(spec).equals(renderPng(spec)));
    assert.ok(!renderPng(spec).equals(renderPng({ ...spec, seed: 6 })));
    assert.ok(renderJpeg(spec).equals(renderJpeg(spec)));
    assert.ok(!renderJpeg(spec).equals(renderJpeg({ ...spec, prompt: 'owl' })));
  });

  it('renders a baseline JPEG with SOI, SOF0 of the requested size, and EOI', () => {
    const jpeg = renderJpeg({ width: 100, height: 60, seed: 1 });
    assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8]);
    assert.deepEqual([...jpeg.subarray(-2)], [0xff, 0xd9]);
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    assert.ok(sof > 0);
    assert.equal(jpeg.readUInt16BE(sof + 5), 60);
    assert.equal(jpeg.readUInt16BE(sof + 7), 100);
  });
});
