import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { activeRunners, stopAllRunners } from '../../../lib/local/runner';
import { writeTinyModel } from '../../../lib/sandbox/tiny-sd';
import type { TinyModelOptions } from '../../../lib/sandbox/tiny-sd';
import { readPngText } from '../../../lib/storage/png-text';
import { loadFlow } from '../../support/flow';
import type { Msg } from '../../support/flow';
import { waitFor } from '../../support/net';
import { helper } from '../../support/node-red';
import { cpuSeconds } from '../../support/cpu';
import { pngSize } from '../../support/png';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const node = {
  type: 'local-sd',
  provider: '',
  model: 'tiny',
  device: 'cpu',
  threads: 1,
  prompt: '',
  params: { width: 64, height: 64, num_inference_steps: 3 },
};

describe('local-sd node', function () {
  this.timeout(60_000);
  let userDir: string;
  const models = (name: string, options: TinyModelOptions = {}) => writeTinyModel(path.join(userDir, 'models', name), options);

  before(async () => {
    userDir = await mkdtemp(path.join(os.tmpdir(), 'local-sd-'));
    await models('tiny');
    await models('heavy', { unetChannels: 64, unetLayers: 4 });
    await helper.startServer();
    helper.settings({ userDir });
  });
  after(async () => {
    stopAllRunners();
    helper.settings({ userDir: undefined });
    await helper.stopServer();
    await rm(userDir, { recursive: true, force: true });
  });
  afterEach(() => helper.unload());

  it('generates a PNG of the requested size and sends it per the message contract, showing each step', async () => {
    const { run } = await loadFlow(['local-sd'], node);
    const shown: string[] = [];
    helper.getNode('n1').on('call:status', (call: { args: Array<{ text?: string }> }) => shown.push(call.args[0].text ?? ''));
    const { out, error } = await run({ payload: 'a red house', topic: 'kept', params: { width: 96, height: 72, seed: 11, negative_prompt: 'blurry' } });
    assert.equal(error, undefined, error?.message);
    assert.equal(out?.topic, 'kept');
    assert.ok(Buffer.isBuffer(out?.payload));
    assert.deepEqual(pngSize(out?.payload as Buffer), { width: 96, height: 72 });
    assert.match(
      readPngText(out?.payload as Buffer).parameters,
      /^a red house\nNegative prompt: blurry\nSteps: 3, Sampler: Euler, CFG scale: 7.5, Seed: 11, Size: 96x72, Model: tiny$/,
    );
    const [image] = out?.images as Array<Record<string, unknown>>;
    assert.deepEqual([image.mimeType, image.width, image.height, image.seed], ['image/png', 96, 72, 11]);
    const job = out?.job as Record<string, unknown>;
    assert.deepEqual([job.provider, job.model, job.status, job.seed, job.device], ['local-sd', 'tiny', 'completed', 11, 'cpu']);
    assert.ok(typeof job.generationTime === 'number' && job.generationTime > 0);
    assert.deepEqual(job.params, {
      prompt: 'a red house',
      negative_prompt: 'blurry',
      num_inference_steps: 3,
      guidance_scale: 7.5,
      width: 96,
      height: 72,
      seed: 11,
      scheduler: 'euler',
    });
    // The test runtime has no message catalogue, so statuses show as their keys: loading, a step per step, done.
    assert.deepEqual(shown, ['common.status.loading', 'common.status.step', 'common.status.step', 'common.status.step', 'common.status.done']);
  });

  it('reproduces an image from its seed, and changes it with another seed', async () => {
    const { run } = await loadFlow(['local-sd'], node);
    const image = async (seed: number) => (await run({ prompt: 'a cat', params: { seed } })).out?.payload as Buffer;
    const first = await image(7);
    assert.ok(first.equals(await image(7)));
    assert.ok(!first.equals(await image(8)));
    const random = await run({ prompt: 'a cat', params: { seed: -1 } });
    assert.ok(Number.isInteger((random.out?.job as { seed: number }).seed), 'seed -1 reports the seed it used');
  });

  it('runs every export variant', async () => {
    const variants: Record<string, TinyModelOptions> = {
      'ids-int64': { ids: 'int64' },
      'timestep-float': { timestep: 'float' },
      'timestep-scalar': { timestep: 'scalar' },
      fp16: { precision: 'fp16' },
      'external-data': { externalData: true },
      'fixed-batch': { dynamicBatch: false },
      sd2: { padToken: '!', scheduler: { prediction_type: 'v_prediction' } },
    };
    for (const [name, options] of Object.entries(variants)) await models(name, options);
    const { run } = await loadFlow(['local-sd'], node);
    for (const name of Object.keys(variants)) {
      const { out, error } = await run({ prompt: 'a cat', model: name, params: { seed: 1 } });
      assert.equal(error, undefined, `${name}: ${error?.message}`);
      assert.deepEqual(pngSize(out?.payload as Buffer), { width: 64, height: 64 }, name);
    }
  });

  it('gives a clear error through Catch for bad input and broken models, and keeps working', async () => {
    await models('no-unet');
    await rm(path.join(userDir, 'models', 'no-unet', 'unet', 'model.onnx'));
    const { run, outputs } = await loadFlow(['local-sd'], node);
    const cases: Array<[Msg, RegExp]> = [
      [{ prompt: 'a cat', model: 'no-unet' }, /model "no-unet" is missing unet\/model.onnx/],
      [{ prompt: 'a cat', params: { width: 100 } }, /params.width: must be a multiple of 8/],
      [{ prompt: 'a cat', params: { num_inference_steps: 0 } }, /params.num_inference_steps: Too small: expected number to be >=1/],
      [
        { prompt: 'a cat', params: { scheduler: 'plms' } },
        /params.scheduler: Invalid option: expected one of "euler"\|"euler_a"\|"ddim"\|"dpmpp_2m"\|"dpmpp_2m_karras"\|"lcm"/,
      ],
      [{ prompt: '' }, /the prompt is empty/],
      [{ prompt: 42 }, /msg.prompt must be a string, not a number/],
      [{ prompt: 'a cat', model: '../secrets' }, /must be a folder name inside the models directory/],
      [{ prompt: 'a cat', model: 'not-there' }, /model folder .*not-there does not exist/],
    ];
    for (const [msg, message] of cases) {
      const { error } = await run(msg);
      assert.match(error?.message ?? 'no error', message);
    }
    assert.equal(outputs.length, 0);
    assert.deepEqual(pngSize((await run({ prompt: 'a cat' })).out?.payload as Buffer), { width: 64, height: 64 });
  });

  it('stops the runner within a second when a redeploy cancels a generation', async () => {
    const harness = await loadFlow(['local-sd'], { ...node, model: 'heavy', params: { width: 512, height: 512, num_inference_steps: 50 } });
    const runner = activeRunners().find((candidate) => candidate.options.threads === 1);
    assert.ok(runner);
    let step = 0;
    const n1 = helper.getNode('n1');
    n1.on('call:status', (call: { args: Array<{ text?: string }> }) => call.args[0].text === 'common.status.step' && step++);
    n1.receive({ prompt: 'a lighthouse at dusk' });
    await waitFor(() => step >= 2, 30_000, 'the generation to be under way');
    const redeployed = Date.now();
    await helper.setFlows(
      harness.flow.map((entry) => (entry.id === 'n1' ? { ...entry, name: 'redeployed' } : entry)),
      'nodes',
    );
    await waitFor(() => runner.queued === 0, 1000, 'the runner to stop generating');
    const stoppedAfter = Date.now() - redeployed;
    assert.ok(stoppedAfter < 1000, `stopped after ${stoppedAfter} ms`);
    if (runner.pid !== undefined) {
      const before = cpuSeconds(runner.pid);
      await sleep(300);
      assert.ok(cpuSeconds(runner.pid) - before < 0.05, 'the runner process is idle');
    }
    assert.deepEqual(harness.outputs, []);
    assert.deepEqual(harness.errors, []);
  });

  it('falls back to the CPU, with a warning saying why, when CUDA cannot be used', async function () {
    const { run } = await loadFlow(['local-sd'], { ...node, device: 'cuda' });
    const warnings: string[] = [];
    helper.getNode('n1').on('call:warn', (call: { args: unknown[] }) => warnings.push(String(call.args[0])));
    const { out } = await run({ prompt: 'a cat' });
    const device = (out?.job as { device: string }).device;
    if (device === 'cuda') return this.skip(); // this machine has a working CUDA onnxruntime
    assert.equal(device, 'cpu');
    assert.match(warnings.join('\n'), /CUDA could not be used, so local-sd runs on the CPU/);
  });

  it("answers VisionCraft's /models, /status and /load_model through guarded admin endpoints", async () => {
    await loadFlow(['local-sd'], node);
    const listed = await helper.request().get('/image-gen/local-sd/models');
    assert.equal(listed.status, 200);
    const body = listed.body as { models_dir: string; onnxruntime_installed: boolean; local_models: Record<string, { img2img: boolean }> };
    assert.equal(body.models_dir, path.join(userDir, 'models'));
    assert.equal(body.onnxruntime_installed, true);
    assert.equal(body.local_models.tiny.img2img, true);
    const loaded = await helper.request().post('/image-gen/local-sd/load_model').send({ model: 'tiny', threads: 1 });
    assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
    const answer = loaded.body as Record<string, unknown>;
    assert.deepEqual([answer.message, answer.model, answer.device], ['Model loaded successfully', 'tiny', 'cpu']);
    assert.equal(typeof answer.load_time, 'number');
    const status = await helper.request().get('/image-gen/local-sd/status');
    const runner = ((status.body as { runners: unknown }).runners as Array<Record<string, unknown>>).find((entry) => entry.threads === 1);
    assert.deepEqual([runner?.model_loaded, runner?.current_model, runner?.device], [true, 'tiny', 'cpu']);
    assert.ok(typeof runner?.memory_total === 'number' && typeof runner?.device_name === 'string');
    assert.ok(((status.body as { available_models: unknown }).available_models as string[]).includes('tiny'));
    const missing = await helper.request().post('/image-gen/local-sd/load_model').send({ model: '../etc' });
    assert.equal(missing.status, 400);
    assert.match((missing.body as { error: { message: string } }).error.message, /inside the models directory/);
    assert.equal((await helper.request().post('/image-gen/local-sd/load_model').send({})).status, 400);
  });
});
