import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { listModelFolders, locateModelFolder, readModelFolder, resolveModelFolder } from '../../../lib/local/model-folder';
import { SANDBOX_MODEL, writeTinyModel } from '../../../lib/sandbox/tiny-sd';

/** The sandbox's inpainting model, also written on first use. */
const INPAINTING = 'sandbox-tiny-sd-inpainting';

describe('local model folders', () => {
  let root: string;
  beforeEach(async () => (root = await mkdtemp(path.join(os.tmpdir(), 'models-'))));
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('reads an export: component paths, tokenizer files, scheduler config and VAE scaling factor', async () => {
    const dir = await writeTinyModel(path.join(root, 'tiny'), { padToken: '!', scheduler: { prediction_type: 'v_prediction' } });
    const model = await readModelFolder(dir);
    assert.equal(model.name, 'tiny');
    assert.equal(model.unet, path.join(dir, 'unet', 'model.onnx'));
    assert.equal(model.vaeEncoder, path.join(dir, 'vae_encoder', 'model.onnx'));
    assert.equal(model.tokenizer.special.pad_token, '!');
    assert.equal(model.tokenizer.special.bos_token, '<|startoftext|>');
    assert.equal(model.scheduler.prediction_type, 'v_prediction');
    assert.equal(model.vaeScalingFactor, 0.18215);
  });

  it('names the missing or malformed file', async () => {
    const dir = await writeTinyModel(path.join(root, 'broken'), { vaeEncoder: false });
    assert.equal((await readModelFolder(dir)).vaeEncoder, undefined, 'vae_encoder is optional');
    await writeFile(path.join(dir, 'scheduler', 'scheduler_config.json'), '{"beta_schedule": "cubic"}');
    await assert.rejects(readModelFolder(dir), /scheduler\/scheduler_config.json is malformed \(beta_schedule/);
    await writeFile(path.join(dir, 'tokenizer', 'merges.txt'), '#version: 0.2\na b\nnot-a-pair\n');
    await assert.rejects(readModelFolder(dir), /tokenizer\/merges.txt line 3/);
    await writeFile(path.join(dir, 'tokenizer', 'vocab.json'), '{"a": 0,');
    await assert.rejects(readModelFolder(dir), /tokenizer\/vocab.json is not valid JSON/);
    await rm(path.join(dir, 'unet', 'model.onnx'));
    await assert.rejects(readModelFolder(dir), /model "broken" is missing unet\/model.onnx/);
    await rm(path.join(dir, 'model_index.json'));
    await assert.rejects(readModelFolder(dir), /has no readable model_index.json/);
    await assert.rejects(readModelFolder(path.join(root, 'absent')), /does not exist/);
  });

  it('resolves a model name inside the models directory and refuses names that leave it', () => {
    assert.equal(resolveModelFolder('sd15', root), path.join(root, 'sd15'));
    assert.equal(resolveModelFolder('/opt/models/sd15', root), '/opt/models/sd15');
    for (const bad of ['..', '../etc', 'a/../../b', 'a\\b', '.'])
      assert.throws(() => resolveModelFolder(bad, root), /must be a folder name inside the models directory/, bad);
    assert.throws(() => resolveModelFolder('  ', root), /no model is selected/);
  });

  it('lists the folders that hold a model_index.json, saying which can do img2img', async () => {
    await writeTinyModel(path.join(root, 'b-model'), { vaeEncoder: false });
    await writeTinyModel(path.join(root, 'a-model'));
    await writeFile(path.join(root, 'notes.txt'), 'not a model');
    assert.deepEqual(
      (await listModelFolders(root)).map((model) => [model.name, model.img2img]),
      [
        ['a-model', true],
        ['b-model', false],
        [SANDBOX_MODEL, false],
        [INPAINTING, false],
      ],
    );
    assert.deepEqual(
      (await listModelFolders(path.join(root, 'missing'))).map((model) => model.name),
      [SANDBOX_MODEL, INPAINTING],
    );
  });

  it('writes the sandbox model on first use, once when asked twice at once, and never shows it half-written', async () => {
    const modelsDir = path.join(root, 'fresh', 'models');
    const [first, second] = await Promise.all([locateModelFolder(SANDBOX_MODEL, modelsDir), locateModelFolder(` ${SANDBOX_MODEL} `, modelsDir)]);
    assert.equal(first, path.join(modelsDir, SANDBOX_MODEL));
    assert.equal(second, first);
    assert.ok((await readModelFolder(first)).unet.endsWith(path.join('unet', 'model.onnx')));
    assert.deepEqual(await readdir(modelsDir), [SANDBOX_MODEL], 'no staging folder is left behind');
    assert.equal(await locateModelFolder('other', modelsDir), path.join(modelsDir, 'other'), 'other names are only resolved');
    const inpainting = await readModelFolder(await locateModelFolder(INPAINTING, modelsDir));
    assert.equal(inpainting.name, INPAINTING);
  });
});
