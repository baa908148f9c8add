import assert from 'node:assert/strict';
import { SANDBOX_API_KEY, startSandbox } from '../../../lib/sandbox';
import type { SandboxServer } from '../../../lib/sandbox';
import { loadFlow, openHandles, sleep } from '../../support/flow';
import type { Msg } from '../../support/flow';
import { helper } from '../../support/node-red';

const sync = { type: 'flux-generate', endpoint: 'flux', model: 'flux-pro', prompt: '', params: {}, completion: 'wait' };
const jobs = { type: 'flux-generate', endpoint: 'jobs', model: 'flux-1.1-pro', prompt: '', params: {}, completion: 'wait' };

describe('flux-generate node', function () {
  this.timeout(20_000);
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  describe('synchronous /flux', () => {
    it('sends every documented parameter with its documented name and type, and answers per the contract', async () => {
      const { run, sandbox } = await loadFlow(['flux-generate'], { ...sync, model: 'flux-dev-single-lora', params: { aspect_ratio: '16:9' } });
      const params = {
        num_outputs: 2,
        seed: 7,
        output_format: 'jpg',
        output_quality: 90,
        lora_weights: 'https://huggingface.co/mylora.safetensors',
        lora_scale: 0.7,
        num_inference_steps: 28,
        guidance_scale: 3.5,
        megapixels: '1',
        go_fast: true,
      };
      const request = { prompt: 'a red fox', params, topic: 'keep me', req: { id: 'http-in' } };
      const { out } = await run(request);
      const [sent] = sandbox.requestsTo('pixeldojo', 'POST', '/flux');
      assert.deepEqual(sent.body, { ...params, aspect_ratio: '16:9', prompt: 'a red fox', model: 'flux-dev-single-lora', go_fast: false });
      assert.equal(out?.topic, 'keep me');
      assert.deepEqual(out?.req, { id: 'http-in' });
      const images = out?.images as Array<{ url: string; seed: number; expiresAt: string }>;
      assert.equal(images.length, 2);
      assert.equal(out?.payload, images[0].url);
      assert.deepEqual(
        images.map((image) => image.seed),
        [7, 8],
      );
      const job = out?.job as Record<string, unknown>;
      assert.equal(job.provider, 'pixeldojo');
      assert.equal(job.status, 'completed');
      assert.deepEqual(job.cost, { credits: 2 });
      assert.equal(job.creditsRemaining, 998);
    });

    it('sends raw for flux-1.1-pro-ultra, and downloads the images into the message when asked', async () => {
      const { run, sandbox } = await loadFlow(['flux-generate'], { ...sync, model: 'flux-1.1-pro-ultra', download: true, params: { raw: true } });
      const { out } = await run({ payload: 'a lighthouse' });
      assert.deepEqual(sandbox.requestsTo('pixeldojo', 'POST', '/flux')[0].body, { prompt: 'a lighthouse', model: 'flux-1.1-pro-ultra', raw: true });
      assert.ok(Buffer.isBuffer(out?.payload));
      const [image] = out?.images as Array<{ data: Buffer; mimeType: string; width: number; height: number }>;
      assert.equal(image.mimeType, 'image/png');
      assert.deepEqual([image.width, image.height], [1024, 1024]);
      assert.ok(image.data.equals(out?.payload as Buffer));
    });

    it('takes the prompt from msg.prompt, then a string payload, then the node', async () => {
      const { run, sandbox } = await loadFlow(['flux-generate'], { ...sync, prompt: 'from the node' });
      await run({ prompt: 'from msg.prompt', payload: 'from payload' });
      await run({ payload: 'from payload' });
      await run({ payload: 42 });
      const prompts = sandbox.requestsTo('pixeldojo', 'POST', '/flux').map((entry) => (entry.body as Msg).prompt);
      assert.deepEqual(prompts, ['from msg.prompt', 'from payload', 'from the node']);
    });

    const refusals: Array<[string, Msg, RegExp]> = [
      ['an empty prompt', { prompt: '' }, /prompt: the prompt is empty/],
      ['a 5000-character prompt', { prompt: 'x'.repeat(5000) }, /longer than 2000 characters/],
      ['num_outputs 0', { prompt: 'p', params: { num_outputs: 0 } }, /num_outputs: Too small/],
      ['num_outputs 99', { prompt: 'p', params: { num_outputs: 99 } }, /num_outputs: Too big/],
      ['a string where a number goes', { prompt: 'p', params: { num_outputs: '2' } }, /num_outputs: Invalid input: expected number/],
      ['a huge seed', { prompt: 'p', params: { seed: 1e20 } }, /seed/],
      ['an unknown model', { prompt: 'p', model: 'flux-9000' }, /model: Invalid option/],
      ['LoRA weights on a model without LoRA', { prompt: 'p', params: { lora_weights: 'https://x.y/l.safetensors' } }, /flux-pro has no LoRA support/],
      ['raw on a model without raw mode', { prompt: 'p', params: { raw: true } }, /raw is only supported by flux-1.1-pro-ultra/],
      ['an unknown parameter', { prompt: 'p', params: { stepz: 4 } }, /Unrecognized key: "stepz"/],
      ['msg.params that is not an object', { prompt: 'p', params: 'steps=4' }, /msg.params must be an object/],
      ['msg.prompt that is not a string', { prompt: 12 }, /msg.prompt must be a string/],
    ];
    for (const [label, msg, message] of refusals) {
      it(`refuses ${label} through Catch, before any request`, async () => {
        const { run, sandbox } = await loadFlow(['flux-generate'], sync);
        const { error } = await run(msg);
        assert.match(error?.message ?? '', message);
        assert.equal(error?.source?.id, 'n1');
        assert.equal(sandbox.requestsTo('pixeldojo').length, 0);
      });
    }

    it('refuses to run without a provider config', async () => {
      const { run } = await loadFlow(['flux-generate'], { ...sync, provider: '' });
      assert.match((await run({ prompt: 'p' })).error?.message ?? '', /no provider config is selected/);
    });

    it('refuses a provider config of another provider', async () => {
      const { run } = await loadFlow(['flux-generate'], sync, { provider: { kind: 'piapi' }, credentials: { apiKey: 'k' } });
      assert.match((await run({ prompt: 'p' })).error?.message ?? '', /needs a PixelDojo provider config, but "test" is PiAPI/);
    });

    it('refuses a provider config without its key, naming what to do', async () => {
      const { run } = await loadFlow(['flux-generate'], sync, { provider: { kind: 'pixeldojo' } });
      assert.match((await run({ prompt: 'p' })).error?.message ?? '', /PixelDojo API key is required: paste it into the provider config/);
    });

    it('waits out a 429 with Retry-After, then succeeds with one more submit', async () => {
      const { run, sandbox } = await loadFlow(['flux-generate'], sync);
      sandbox.injectFault({ api: 'pixeldojo', path: '/flux', fault: { type: 'status', status: 429, retryAfter: '1' } });
      const { out } = await run({ prompt: 'p' });
      assert.ok(out?.images);
      const [first, second] = sandbox.requestsTo('pixeldojo', 'POST', '/flux');
      assert.ok(second.receivedAt - first.receivedAt >= 1000);
    });

    for (const [label, fault, message] of [
      ['a 500', { type: 'status', status: 500 }, /HTTP 500.*may have reached/],
      ['a timeout', { type: 'hang' }, /did not answer within 1000 ms.*may have reached/],
    ] as const) {
      it(`sends a submit exactly once after ${label}, and the caught error says the job may exist`, async () => {
        const { run, sandbox } = await loadFlow(['flux-generate'], sync, { provider: { timeout: '1000' } });
        sandbox.injectFault({ api: 'pixeldojo', path: '/flux', fault });
        const { error } = await run({ prompt: 'p' });
        assert.match(error?.message ?? '', message);
        await sleep(300);
        assert.equal(sandbox.requestsTo('pixeldojo', 'POST', '/flux').length, 1);
      });
    }

    it('turns the documented error bodies into clear errors: 401 key refused, 403 insufficient credits', async () => {
      const real = await startSandbox();
      try {
        const { run } = await loadFlow(['flux-generate'], sync, {
          provider: { kind: 'pixeldojo', baseUrl: real.baseUrl('pixeldojo') },
          credentials: { apiKey: 'pd-wrong-key-1234' },
        });
        const { error } = await run({ prompt: 'p' });
        assert.match(error?.message ?? '', /HTTP 401 unauthorized: Invalid API key \(the API key was refused: check the credentials/);
        assert.ok(!(error?.message ?? '').includes('pd-wrong-key-1234'));
        await helper.unload();
        const funded = await loadFlow(['flux-generate'], sync, {
          provider: { kind: 'pixeldojo', baseUrl: real.baseUrl('pixeldojo') },
          credentials: { apiKey: SANDBOX_API_KEY },
        });
        real.credits = 0;
        assert.match((await funded.run({ prompt: 'p' })).error?.message ?? '', /HTTP 403 insufficient_credits: Your account has insufficient credits/);
      } finally {
        await real.close();
      }
    });
  });

  describe('async jobs API', () => {
    let sandbox: SandboxServer;
    it('submits to /models/{apiId}/run, polls and sends the completed job', async () => {
      const harness = await loadFlow(['flux-generate'], { ...jobs, params: { aspect_ratio: '1:1' } });
      sandbox = harness.sandbox;
      sandbox.scriptJobs('pixeldojo', { durationMs: 300 });
      const { out } = await harness.run({ prompt: 'a harbour', params: { seed: 3 } });
      const [submit] = sandbox.requestsTo('pixeldojo', 'POST', '/models/flux-1.1-pro/run');
      assert.deepEqual(submit.body, { aspect_ratio: '1:1', seed: 3, prompt: 'a harbour' });
      const job = out?.job as Record<string, unknown>;
      assert.equal(job.status, 'completed');
      assert.match(String(job.id), /^job_/);
      assert.deepEqual(job.cost, { credits: 1 });
      assert.equal(typeof out?.payload, 'string');
      assert.equal(sandbox.requestsTo('pixeldojo', 'POST').length, 1);
    });

    it('sends the pending job at once with completion "job"', async () => {
      const harness = await loadFlow(['flux-generate'], { ...jobs, completion: 'job' });
      const { out } = await harness.run({ prompt: 'a harbour', topic: 'kept' });
      const job = out?.job as Record<string, unknown>;
      assert.equal(job.status, 'pending');
      assert.equal(out?.topic, 'kept');
      assert.equal(out?.images, undefined);
      assert.equal(harness.sandbox.requestsTo('pixeldojo', 'GET', '/jobs/').length, 0);
    });

    it("refuses an unknown model and parameters outside the model's schema before any submit", async () => {
      const harness = await loadFlow(['flux-generate'], jobs);
      assert.match((await harness.run({ prompt: 'p', model: 'flux-9000' })).error?.message ?? '', /PixelDojo has no model "flux-9000"; available: flux-dev/);
      assert.match((await harness.run({ prompt: 'p', params: { num_outputs: 9 } })).error?.message ?? '', /num_outputs: Too big/);
      assert.match((await harness.run({ prompt: '' })).error?.message ?? '', /prompt: the prompt is empty/);
      assert.equal(harness.sandbox.requestsTo('pixeldojo', 'POST').length, 0);
    });

    it('ends a failed job in a clear error naming the job id', async () => {
      const harness = await loadFlow(['flux-generate'], jobs);
      harness.sandbox.scriptJobs('pixeldojo', { outcome: 'fail', durationMs: 200 });
      const { error } = await harness.run({ prompt: 'p' });
      assert.match(error?.message ?? '', /job job_\w+ failed: The model failed to generate an image/);
    });

    it('sends nothing after a redeploy during the wait, and leaves no timer or socket open', async () => {
      const before = await openHandles();
      const harness = await loadFlow(['flux-generate'], jobs);
      harness.sandbox.scriptJobs('pixeldojo', { outcome: 'never' });
      helper.getNode('n1').receive({ prompt: 'p' });
      await sleep(300);
      assert.equal(harness.sandbox.requestsTo('pixeldojo', 'POST').length, 1);
      await helper.unload();
      await sleep(2500);
      assert.deepEqual(harness.outputs, []);
      assert.deepEqual(harness.errors, []);
      assert.equal(harness.sandbox.requestsTo('pixeldojo', 'GET', '/jobs/').length, 0, 'no poll after the redeploy');
      assert.deepEqual(await openHandles(), before);
    });

    it('lists the catalogue with credit costs through the guarded admin endpoint', async () => {
      await loadFlow(['flux-generate'], jobs);
      const answer = await helper.request().get('/image-gen/pixeldojo/models?provider=cfg');
      assert.equal(answer.status, 200);
      const models = (answer.body as { models: Array<{ apiId: string; creditCost: number }> }).models;
      assert.ok(models.some((model) => model.apiId === 'flux-1.1-pro-ultra' && model.creditCost === 1.5));
      assert.equal((await helper.request().get('/image-gen/pixeldojo/models?provider=none')).status, 400);
    });
  });

  it("says in its status that a message waits for a Max jobs slot, then shows the job's state and elapsed time", async () => {
    const { sandbox } = await loadFlow(['flux-generate'], jobs, {
      provider: { concurrency: '1' },
      extra: [
        { id: 'status', type: 'status', scope: ['n1'], wires: [['statuses']] },
        { id: 'statuses', type: 'helper' },
      ],
    });
    const statuses: string[] = [];
    helper.getNode('statuses').on('input', (msg: { status: { text: string } }) => statuses.push(msg.status.text));
    sandbox.scriptJobs('pixeldojo', { durationMs: 2500 }, { durationMs: 200 });
    helper.getNode('n1').receive({ prompt: 'first' });
    helper.getNode('n1').receive({ prompt: 'second' });
    // The test helper loads no catalogue, so a status shows its key.
    for (let waited = 0; !statuses.includes('common.status.done') && waited < 10_000; waited += 50) await sleep(50);
    assert.ok(statuses.includes('common.status.waiting'), statuses.join(', '));
    assert.ok(statuses.indexOf('common.status.waiting') < statuses.lastIndexOf('common.status.submitting'), 'waiting, then submitted');
    assert.ok(statuses.includes('common.status.processing'), statuses.join(', '));
    // What each job cost, once done (the text is "1 img · 1 cr" where the catalogue is loaded).
    assert.ok(statuses.includes('common.status.doneCost'), statuses.join(', '));
  });
});
