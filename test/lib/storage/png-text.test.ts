import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { renderPng } from '../../../lib/sandbox';
import { PngChunkInserter, a1111Parameters, pngTextChunk, readPngText } from '../../../lib/storage/png-text';

describe('lib/storage png-text', () => {
  it('writes the AUTOMATIC1111 parameters format', () => {
    const text = a1111Parameters({
      prompt: 'a fox',
      negativePrompt: 'blurry',
      steps: 20,
      sampler: 'euler',
      cfgScale: 7.5,
      seed: 42,
      width: 512,
      height: 768,
      model: 'sd15',
    });
    assert.equal(text, 'a fox\nNegative prompt: blurry\nSteps: 20, Sampler: euler, CFG scale: 7.5, Seed: 42, Size: 512x768, Model: sd15');
    assert.equal(a1111Parameters({ prompt: 'only a prompt' }), 'only a prompt');
  });

  it('uses tEXt for Latin-1 text and iTXt for anything else, and both read back', () => {
    assert.equal(pngTextChunk('parameters', 'café').toString('latin1', 4, 8), 'tEXt');
    assert.equal(pngTextChunk('parameters', '富士山 at dawn').toString('latin1', 4, 8), 'iTXt');
    for (const text of ['café, Seed: 1', '富士山 at dawn\nSeed: 7']) {
      const png = renderPng({ width: 4, height: 4, seed: 1 });
      const withText = Buffer.concat([png.subarray(0, 33), pngTextChunk('parameters', text), png.subarray(33)]);
      assert.equal(readPngText(withText).parameters, text);
    }
  });

  it('inserts the chunk after IHDR while streaming, however the bytes are split', async () => {
    const png = renderPng({ width: 16, height: 16, seed: 3 });
    const pieces = Array.from({ length: png.length }, (_, i) => png.subarray(i, i + 1));
    const build = (size: { width: number; height: number }) => pngTextChunk('parameters', a1111Parameters({ prompt: 'a fox', seed: 3, ...size }));
    const out = await buffer(Readable.from(pieces).pipe(new PngChunkInserter(build)));
    const chunk = build({ width: 16, height: 16 });
    assert.deepEqual(out, Buffer.concat([png.subarray(0, 33), chunk, png.subarray(33)]));
    assert.equal(readPngText(out).parameters, 'a fox\nSeed: 3, Size: 16x16');
  });

  it('passes anything that is not a PNG through untouched', async () => {
    const jpegish = Buffer.from([0xff, 0xd8, 0xff, ...new Array<number>(100).fill(7)]);
    assert.deepEqual(await buffer(Readable.from([jpegish]).pipe(new PngChunkInserter(() => Buffer.from('X')))), jpegish);
    assert.deepEqual(await buffer(Readable.from([Buffer.from('tiny')]).pipe(new PngChunkInserter(() => Buffer.from('X')))), Buffer.from('tiny'));
  });
});
