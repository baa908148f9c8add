import assert from 'node:assert/strict';
import { startSandbox } from '../../../lib/sandbox';
import type { SandboxServer } from '../../../lib/sandbox';
import { detectImageType, imageSize } from '../../../lib/storage/image-type';
import { loadFlow, sleep } from '../../support/flow';
import type { Msg } from '../../support/flow';
import { helper } from '../../support/node-red';

/** local-sd with a Server: the sandbox config serves the VisionCraft Pro emulator. */
const node = { type: 'local-sd', provider: 'cfg', model: 'stable-diffusion-1.5', prompt: '', params: {} };

describe('local-sd on a VisionCraft Pro server', function () {
  this.timeout(20_000);
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());
  const generates = (sandbox: SandboxServer) => sandbox.requestsTo('visioncraft', 'POST', '/generate');

  it('sends POST /generate with the documented names; the base64 PNG becomes msg.payload, seed, time and VRAM go to msg.job', async () => {
    const { run, sandbox } = await loadFlow(['local-sd'], node);
    const params = { negative_prompt: 'blurry', num_inference_steps: 25, guidance_scale: 8, width: 640, height: 384, seed: 1234 };
    const { out, error } = await run({ prompt: 'a beautiful garden', params, topic: 'kept' });
    assert.equal(error, undefined, error?.message);
    const [sent] = generates(sandbox);
    assert.deepEqual(sent.body, { ...params, prompt: 'a beautiful garden', model: 'stable-diffusion-1.5' });
    const payload = out?.payload as Buffer;
    assert.equal(detectImageType(payload), 'image/png');
    assert.deepEqual(imageSize(payload), { width: 640, height: 384 });
    assert.equal((out?.images as Array<{ data: Buffer }>)[0].data, payload);
    const job = out?.job as Record<string, unknown>;
    assert.deepEqual(
      [job.provider, job.model, job.status, job.seed, job.generationTime, job.vramUsed],
      ['visioncraft', 'stable-diffusion-1.5', 'completed', 1234, 1.25, 4.2],
    );
    assert.equal(out?.topic, 'kept');
  });

  it("sends the Leonardo engine's fields with model leonardo-api", async () => {
    const { run, sandbox } = await loadFlow(['local-sd'], { ...node, model: 'leonardo-api' });
    const params = { leonardo_model: 'phoenix-1-0', aspect_ratio: '16:9', preset_style: 'CINEMATIC', quality: 'high' };
    const { error } = await run({ prompt: 'a futuristic city', params });
    assert.equal(error, undefined, error?.message);
    assert.deepEqual(generates(sandbox)[0].body, { ...params, prompt: 'a futuristic city', model: 'leonardo-api' });
  });

  const answers: Array<[string, Msg, RegExp]> = [
    [
      'an unknown model',
      { prompt: 'p', model: 'sdxl-turbo' },
      /MODEL_NOT_AVAILABLE: Model 'sdxl-turbo' not available \(available: stable-diffusion-1.5, leonardo-api\)/,
    ],
    [
      'a size over its VRAM',
      { prompt: 'p', params: { width: 1024, height: 1536 } },
      /INSUFFICIENT_VRAM: Not enough VRAM for requested resolution \(needs 6.5 GB of VRAM, 3.8 GB free\)/,
    ],
    [
      'a Leonardo model it does not know',
      { prompt: 'p', model: 'leonardo-api', params: { leonardo_model: 'nope' } },
      /LEONARDO_API_ERROR: Leonardo.ai generation failed/,
    ],
  ];
  for (const [label, msg, message] of answers) {
    it(`turns the server's {error: {code, message}} for ${label} into a clear error`, async () => {
      const { run, sandbox } = await loadFlow(['local-sd'], node);
      assert.match((await run(msg)).error?.message ?? '', message);
      assert.equal(generates(sandbox).length, 1, 'sent once');
    });
  }

  const refusals: Array<[string, Msg, RegExp]> = [
    ['an empty prompt', { prompt: '' }, /VisionCraft Pro: prompt: the prompt is empty/],
    ['10 steps', { prompt: 'p', params: { num_inference_steps: 10 } }, /num_inference_steps: Too small/],
    ['guidance 25', { prompt: 'p', params: { guidance_scale: 25 } }, /guidance_scale: Too big/],
    ['a scheduler (a local-only parameter)', { prompt: 'p', params: { scheduler: 'euler' } }, /Unrecognized key: "scheduler"/],
    ['a model name with a slash', { prompt: 'p', model: '../models' }, /model: must be a model name the server lists/],
  ];
  for (const [label, msg, message] of refusals) {
    it(`refuses ${label} before anything is sent`, async () => {
      const { run, sandbox } = await loadFlow(['local-sd'], node);
      assert.match((await run(msg)).error?.message ?? '', message);
      assert.equal(sandbox.requestsTo('visioncraft').length, 0);
    });
  }

  it('sends a generation once after a 500 or a timeout, saying it may have run', async () => {
    const { run, sandbox } = await loadFlow(['local-sd'], node, { provider: { timeout: '1000' } });
    sandbox.injectFault({
      api: 'visioncraft',
      method: 'POST',
      fault: { type: 'status', status: 500, body: { error: { code: 'INTERNAL_ERROR', message: 'CUDA error' } } },
    });
    assert.match((await run({ prompt: 'p' })).error?.message ?? '', /INTERNAL_ERROR: CUDA error.*may have reached/);
    sandbox.injectFault({ api: 'visioncraft', method: 'POST', fault: { type: 'hang' } });
    assert.match((await run({ prompt: 'p' })).error?.message ?? '', /may have reached/);
    await sleep(200);
    assert.equal(generates(sandbox).length, 2);
  });

  it('spreads work over several servers, one provider config each, and a non-VisionCraft config is refused', async () => {
    const second = await startSandbox();
    try {
      const { sandbox, outputs } = await loadFlow(['local-sd'], node, {
        extra: [
          { id: 'gpu2', type: 'provider-config', name: 'gpu 2', kind: 'visioncraft', baseUrl: second.baseUrl('visioncraft') },
          { id: 'n2', type: 'local-sd', provider: 'gpu2', model: 'stable-diffusion-1.5', prompt: '', params: {}, wires: [['out']] },
        ],
      });
      helper.getNode('n1').receive({ prompt: 'one' });
      helper.getNode('n2').receive({ prompt: 'two' });
      for (let waited = 0; outputs.length < 2 && waited < 5000; waited += 50) await sleep(50);
      assert.equal(outputs.length, 2);
      assert.deepEqual([generates(sandbox).length, generates(second).length], [1, 1]);
    } finally {
      await helper.unload();
      await second.close();
    }
    const { run } = await loadFlow(['local-sd'], node, { provider: { kind: 'pixeldojo' }, credentials: { apiKey: 'k' } });
    assert.match((await run({ prompt: 'p' })).error?.message ?? '', /needs a VisionCraft Pro server provider config, but "test" is PixelDojo/);
  });

  it("answers the server's /models, /status and /gallery through the node's guarded admin endpoints", async () => {
    const { run } = await loadFlow(['local-sd'], node);
    await run({ prompt: 'a lake', params: { seed: 5 } });
    const models = (await helper.request().get('/image-gen/local-sd/models?provider=cfg')).body as { local_models: Msg; cloud_models: Msg };
    assert.ok('stable-diffusion-1.5' in models.local_models && 'leonardo-api' in models.cloud_models);
    const status = (await helper.request().get('/image-gen/local-sd/status?provider=cfg')).body as { device: string; current_model: string };
    assert.deepEqual([status.device, status.current_model], ['cuda', 'stable-diffusion-1.5']);
    const gallery = (await helper.request().get('/image-gen/local-sd/gallery?provider=cfg&limit=1')).body as {
      images: Array<{ prompt: string; seed: number }>;
      total_count: number;
    };
    assert.deepEqual([gallery.total_count, gallery.images[0].prompt, gallery.images[0].seed], [1, 'a lake', 5]);
    const without = await helper.request().get('/image-gen/local-sd/gallery');
    assert.equal(without.status, 400);
    assert.match((without.body as { error: { message: string } }).error.message, /the gallery is a VisionCraft Pro server's/);
  });
});
