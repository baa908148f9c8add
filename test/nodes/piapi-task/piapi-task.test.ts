import assert from 'node:assert/strict';
import { startSandbox } from '../../../lib/sandbox';
import { loadFlow, sleep } from '../../support/flow';
import type { Msg } from '../../support/flow';
import { helper } from '../../support/node-red';

const task = { type: 'piapi-task', model: 'Qubico/flux1-schnell', taskType: 'txt2img', prompt: '', params: {}, completion: 'wait' };
const image = 'https://example.com/input.png';

describe('piapi-task node', function () {
  this.timeout(20_000);
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  it('sends model, task_type, every input and config with their documented names, and completes the task', async () => {
    const { run, sandbox } = await loadFlow(['piapi-task'], { ...task, serviceMode: 'public', params: { width: 768 } });
    sandbox.scriptJobs('piapi', { durationMs: 300 });
    const input = { negative_prompt: 'blurry', height: 1024, guidance_scale: 3.5, denoise: 0.7, seed: 12345, batch_size: 2 };
    const { out } = await run({ prompt: 'a dragon', params: input, topic: 'kept' });
    const [sent] = sandbox.requestsTo('piapi', 'POST', '/task');
    assert.deepEqual(sent.body, {
      model: 'Qubico/flux1-schnell',
      task_type: 'txt2img',
      input: { width: 768, ...input, prompt: 'a dragon' },
      config: { service_mode: 'public' },
    });
    assert.equal(out?.topic, 'kept');
    const images = out?.images as Array<{ url: string; width: number; height: number; seed: number }>;
    assert.equal(images.length, 2);
    assert.deepEqual([images[0].width, images[0].height, images[0].seed, images[1].seed], [768, 1024, 12345, 12346]);
    const job = out?.job as Record<string, unknown>;
    assert.equal(job.provider, 'piapi');
    assert.equal(job.status, 'completed');
    assert.deepEqual(job.cost, { usd: 0.004 });
  });

  const advanced = { ...task, model: 'Qubico/flux1-dev-advanced', completion: 'job' };
  const lora = [{ path: 'https://example.com/style.safetensors', scale: 0.8 }];
  const taskTypes: Array<[string, Msg]> = [
    ['img2img', { model: 'Qubico/flux1-dev', params: { image, denoise: 0.6 } }],
    ['txt2img-lora', { params: { lora_settings: lora } }],
    ['img2img-lora', { params: { image, lora_settings: lora } }],
    ['controlnet-lora', { params: { control_net_settings: [{ path: 'controlnet-pose', control_image_url: image, conditioning_scale: 1 }] } }],
    ['fill-inpaint', { params: { image, mask: 'https://example.com/mask.png' } }],
    ['fill-outpaint', { params: { image, custom_settings: [{ setting_type: 'outpaint', outpaint_left: 256, outpaint_right: 256 }] } }],
    ['redux-variation', { params: { image, variation_strength: 0.7 } }],
    ['kontext', { params: { image } }],
  ];
  for (const [taskType, msg] of taskTypes) {
    it(`submits a ${taskType} task with the inputs it needs`, async () => {
      const { run, sandbox } = await loadFlow(['piapi-task'], { ...advanced, taskType });
      const { out, error } = await run({ prompt: 'make it so', ...msg });
      assert.equal(error, undefined, error?.message);
      assert.equal((out?.job as { status: string }).status, 'pending');
      const [sent] = sandbox.requestsTo('piapi', 'POST', '/task');
      assert.equal((sent.body as Msg).task_type, taskType);
      assert.deepEqual((sent.body as { input: Msg }).input, { ...(msg.params as Msg), prompt: 'make it so' });
    });
  }

  it('takes the task type from msg.taskType', async () => {
    const { run, sandbox } = await loadFlow(['piapi-task'], { ...task, completion: 'job' });
    await run({ prompt: 'p', taskType: 'img2img', params: { image } });
    assert.equal((sandbox.requestsTo('piapi', 'POST', '/task')[0].body as Msg).task_type, 'img2img');
  });

  const refusals: Array<[string, Msg, RegExp]> = [
    ['an empty prompt', { prompt: '' }, /input.prompt: the prompt is empty/],
    ['a 1501-character prompt', { prompt: 'x'.repeat(1501) }, /longer than 1500 characters/],
    ['an unknown task type', { prompt: 'p', taskType: 'txt2video' }, /unknown PiAPI task type "txt2video"/],
    ['an advanced task type on a basic model', { prompt: 'p', taskType: 'kontext', params: { image } }, /kontext needs the Qubico\/flux1-dev-advanced model/],
    [
      'a basic task type on the advanced model',
      { prompt: 'p', model: 'Qubico/flux1-dev-advanced' },
      /txt2img runs on Qubico\/flux1-schnell or Qubico\/flux1-dev/,
    ],
    ['an unknown model', { prompt: 'p', model: 'Qubico/flux2' }, /PiAPI has no Flux model "Qubico\/flux2"/],
    ['width x height over 1048576', { prompt: 'p', params: { width: 2048, height: 1024 } }, /2097152, more than 1048576 pixels/],
    [
      'batch_size on flux1-dev',
      { prompt: 'p', model: 'Qubico/flux1-dev', params: { batch_size: 2 } },
      /batch_size above 1 is only available on Qubico\/flux1-schnell/,
    ],
    ['batch_size 5', { prompt: 'p', params: { batch_size: 5 } }, /batch_size: Too big/],
    ['guidance_scale 9', { prompt: 'p', params: { guidance_scale: 9 } }, /guidance_scale: Too big/],
    ['denoise 0', { prompt: 'p', params: { denoise: 0 } }, /denoise: Too small/],
    ['img2img without an image', { prompt: 'p', taskType: 'img2img' }, /input.image: Invalid input/],
    [
      'a mask that is not a URL',
      { prompt: 'p', model: 'Qubico/flux1-dev-advanced', taskType: 'fill-inpaint', params: { image, mask: 'mask.png' } },
      /input.mask: must be an http\(s\) image URL/,
    ],
    ['LoRA settings on txt2img', { prompt: 'p', params: { lora_settings: [{ path: 'x' }] } }, /Unrecognized key: "lora_settings"/],
  ];
  for (const [label, msg, message] of refusals) {
    it(`refuses ${label} through Catch, before any request`, async () => {
      const { run, sandbox } = await loadFlow(['piapi-task'], task);
      assert.match((await run(msg)).error?.message ?? '', message);
      assert.equal(sandbox.requestsTo('piapi').length, 0);
    });
  }

  it('turns PiAPI error codes into advice: 1200 on a refused key', async () => {
    const real = await startSandbox();
    try {
      const { run } = await loadFlow(['piapi-task'], task, {
        provider: { kind: 'piapi', baseUrl: real.baseUrl('piapi') },
        credentials: { apiKey: 'pi-wrong-key-99' },
      });
      const { error } = await run({ prompt: 'p' });
      assert.match(error?.message ?? '', /HTTP 401 1200: Authentication failed: Verify API key is correct - authentication failed: check the API key/);
      assert.ok(!(error?.message ?? '').includes('pi-wrong-key-99'));
    } finally {
      await real.close();
    }
  });

  it('checks the envelope code even on HTTP 200, and says the task may exist', async () => {
    const { run, sandbox } = await loadFlow(['piapi-task'], task);
    const body = { code: 500, data: { error: { code: 1500, message: 'Service temporarily unavailable' } }, message: 'failed' };
    sandbox.injectFault({ api: 'piapi', path: '/task', fault: { type: 'status', status: 200, body } });
    const { error } = await run({ prompt: 'p' });
    assert.match(error?.message ?? '', /PiAPI answered code 500: Service temporarily unavailable - service temporarily unavailable: retry later/);
    assert.equal(sandbox.requestsTo('piapi', 'POST').length, 1);
  });

  it('ends a failed task in a clear error naming its id and reason', async () => {
    const { run, sandbox } = await loadFlow(['piapi-task'], task);
    sandbox.scriptJobs('piapi', { outcome: 'fail', durationMs: 200 });
    const { error } = await run({ prompt: 'p' });
    assert.match(error?.message ?? '', /job \w+ failed: Service temporarily unavailable - service temporarily unavailable: retry later/);
  });

  it('completes tasks whose status arrives in Title case or lower case', async () => {
    const { run, sandbox } = await loadFlow(['piapi-task'], task);
    sandbox.scriptJobs('piapi', { durationMs: 200 }, { durationMs: 200 });
    const [first, second] = await Promise.all([run({ prompt: 'one' }), run({ prompt: 'two' })]);
    assert.equal((first.out?.job as { status: string }).status, 'completed');
    assert.equal((second.out?.job as { status: string }).status, 'completed');
  });

  it("holds the provider config's concurrency limit from submit to result", async () => {
    const { run, sandbox } = await loadFlow(['piapi-task'], task, { provider: { concurrency: '1' } });
    sandbox.scriptJobs('piapi', { durationMs: 300 }, { durationMs: 300 });
    const both = Promise.all([run({ prompt: 'one' }), run({ prompt: 'two' })]);
    await sleep(1000);
    assert.equal(sandbox.requestsTo('piapi', 'POST').length, 1, 'the second task waits for the first to finish');
    await both;
    assert.equal(sandbox.requestsTo('piapi', 'POST').length, 2);
  });
});
