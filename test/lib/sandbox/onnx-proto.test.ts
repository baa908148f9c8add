import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { OnnxRuntime } from '../../../lib/local/tensors';
import { clipVocabulary, mergesForWords } from '../../../lib/sandbox/clip-vocabulary';
import { encodeModel } from '../../../lib/sandbox/onnx-proto';
import type { ExternalData, OnnxGraph } from '../../../lib/sandbox/onnx-proto';

const ort = require('onnxruntime-node') as OnnxRuntime;

// y = x * w + b, with w and b as initializers.
const graph: OnnxGraph = {
  name: 'affine',
  nodes: [
    { op: 'Mul', inputs: ['x', 'w'], outputs: ['xw'] },
    { op: 'Add', inputs: ['xw', 'b'], outputs: ['y'] },
  ],
  initializers: [
    { name: 'w', type: 'float', dims: [3], data: Float32Array.from([2, 3, 4]) },
    { name: 'b', type: 'float', dims: [3], data: Float32Array.from([0.5, 0.5, 0.5]) },
  ],
  inputs: [{ name: 'x', type: 'float', shape: ['batch', 3] }],
  outputs: [{ name: 'y', type: 'float', shape: ['batch', 3] }],
};

describe('ONNX writer', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(path.join(os.tmpdir(), 'onnx-proto-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes a model onnxruntime loads and runs, with symbolic dimensions kept', async () => {
    const file = path.join(dir, 'inline.onnx');
    await writeFile(file, encodeModel(graph));
    const session = await ort.InferenceSession.create(file);
    assert.deepEqual(session.inputMetadata[0], { name: 'x', isTensor: true, type: 'float32', shape: ['batch', 3] });
    const { y } = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 1, 1, 2, 2, 2]), [2, 3]) });
    assert.deepEqual(Array.from(y.data as Float32Array), [2.5, 3.5, 4.5, 4.5, 6.5, 8.5]);
  });

  it('puts weights in an external data file that onnxruntime finds beside the model', async () => {
    const external: ExternalData = { location: 'weights.onnx_data', chunks: [], length: 0 };
    const file = path.join(dir, 'external.onnx');
    await writeFile(file, encodeModel(graph, external));
    await writeFile(path.join(dir, external.location), Buffer.concat(external.chunks));
    assert.equal((await readFile(path.join(dir, external.location))).length, 24);
    const session = await ort.InferenceSession.create(file);
    const { y } = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 0, -1]), [1, 3]) });
    assert.deepEqual(Array.from(y.data as Float32Array), [2.5, 0.5, -3.5]);
  });

  it('builds CLIP-format vocabularies: bytes, word-final bytes, merges, then start and end', () => {
    const merges = mergesForWords(['cat', 'car']);
    assert.deepEqual(merges, ['c a', 'ca t</w>', 'ca r</w>']);
    const vocab = clipVocabulary(merges);
    assert.equal(vocab['!'], 0);
    assert.equal(vocab['a</w>'], 256 + 64, 'a is the 65th byte in CLIP order');
    assert.deepEqual([vocab.ca, vocab['cat</w>'], vocab['car</w>'], vocab['<|startoftext|>'], vocab['<|endoftext|>']], [512, 513, 514, 515, 516]);
    assert.equal(vocab['Ġ'], 220, 'the space byte maps to Ġ, as in GPT-2 and CLIP');
  });
});
