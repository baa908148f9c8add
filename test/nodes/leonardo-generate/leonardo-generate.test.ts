import assert from 'node:assert/strict';
import { request } from 'undici';
import { startSandbox } from '../../../lib/sandbox';
import type { SandboxServer } from '../../../lib/sandbox';
import { loadFlow, sleep } from '../../support/flow';
import type { Msg } from '../../support/flow';
import { waitFor } from '../../support/net';
import { helper } from '../../support/node-red';
import { HOOK_PATH, webhookSuite } from '../../support/webhook-flow';

const PHOENIX = 'de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3';
const generate = { type: 'leonardo-generate', model: PHOENIX, prompt: '', params: {}, completion: 'wait' };
const CALLBACK_KEY = 'leonardo-callback-key-1234';

describe('leonardo-generate node', function () {
  this.timeout(30_000);
  const serveTracked = webhookSuite();
  const generations = (sandbox: SandboxServer) => sandbox.requestsTo('leonardo', 'POST', '/generations');

  it("sends every documented field with its documented name, polls the generation, and keeps each image's nsfw flag", async () => {
    const { run, sandbox } = await loadFlow(['leonardo-generate'], { ...generate, params: { width: 832 } });
    sandbox.scriptJobs('leonardo', { durationMs: 300 });
    const params = {
      negative_prompt: 'blurry',
      height: 640,
      num_images: 2,
      alchemy: true,
      presetStyle: 'CINEMATIC',
      contrast: 3.5,
      guidance_scale: 7,
      num_inference_steps: 30,
      seed: 4242,
      init_image_id: '5f0c5a4e-1b2c-4d3e-8f90-0123456789ab',
      init_strength: 0.4,
      scheduler: 'LEONARDO',
      sd_version: 'PHOENIX',
      highResolution: true,
      public: false,
    };
    const { out, error } = await run({ prompt: 'a lighthouse [sandbox:nsfw]', params, topic: 'kept' });
    assert.equal(error, undefined, error?.message);
    const [sent] = generations(sandbox);
    assert.deepEqual(sent.body, { width: 832, ...params, prompt: 'a lighthouse [sandbox:nsfw]', modelId: PHOENIX });
    assert.equal(sent.headers.authorization, 'Bearer sandbox-key');
    assert.equal(out?.topic, 'kept');
    const images = out?.images as Array<{ url: string; width: number; height: number; seed: number; nsfw: boolean }>;
    assert.equal(images.length, 2);
    assert.deepEqual(
      images.map(({ width, height, seed, nsfw }) => [width, height, seed, nsfw]),
      [
        [832, 640, 4242, true],
        [832, 640, 4242, true],
      ],
    );
    const job = out?.job as { provider: string; model: string; status: string; cost: unknown; id: string };
    assert.deepEqual([job.provider, job.model, job.status], ['leonardo', PHOENIX, 'completed']);
    assert.ok(typeof (job.cost as { credits: number }).credits === 'number');
    assert.ok(sandbox.requestsTo('leonardo', 'GET', `/generations/${job.id}`).length >= 1, 'polled');
  });

  it('reads a cost in DOLLARS as msg.job.cost.usd', async () => {
    const { run, sandbox } = await loadFlow(['leonardo-generate'], { ...generate, completion: 'job' });
    sandbox.injectFault({
      api: 'leonardo',
      path: '/generations',
      fault: { type: 'status', status: 200, body: { sdGenerationJob: { generationId: 'g-1', cost: { amount: 0.025, unit: 'DOLLARS' } } } },
    });
    const { out } = await run({ prompt: 'p' });
    assert.deepEqual((out?.job as { id: string; cost: unknown }).cost, { usd: 0.025 });
    assert.equal((out?.job as { id: string }).id, 'g-1');
  });

  const refusals: Array<[string, Msg, RegExp]> = [
    ['an empty prompt', { prompt: '' }, /prompt: the prompt is empty/],
    ['a 1501-character prompt', { prompt: 'x'.repeat(1501) }, /longer than 1500 characters/],
    ['a width that is not a multiple of 8', { prompt: 'p', params: { width: 514 } }, /width: must be a multiple of 8/],
    ['a height over 1536', { prompt: 'p', params: { height: 1544 } }, /height: Too big/],
    ['9 images', { prompt: 'p', params: { num_images: 9 } }, /num_images: Too big/],
    ['5 images above 768 pixels', { prompt: 'p', params: { width: 1024, num_images: 5 } }, /num_images: at most 4 images above 768/],
    ['ultra with alchemy', { prompt: 'p', params: { ultra: true, alchemy: true } }, /ultra cannot be combined with alchemy/],
    ['an unknown presetStyle', { prompt: 'p', params: { presetStyle: 'PASTEL' } }, /presetStyle: Invalid option/],
    ['contrast 2', { prompt: 'p', params: { contrast: 2 } }, /contrast: must be one of 1, 1.3, 1.8/],
    ['guidance_scale 21', { prompt: 'p', params: { guidance_scale: 21 } }, /guidance_scale: Too big/],
    ['9 inference steps', { prompt: 'p', params: { num_inference_steps: 9 } }, /num_inference_steps: Too small/],
    ['init_strength 0.95', { prompt: 'p', params: { init_image_id: '5f0c5a4e-1b2c-4d3e-8f90-0123456789ab', init_strength: 0.95 } }, /init_strength: Too big/],
    ['a model that is not a Leonardo id', { prompt: 'p', model: '../..' }, /modelId: must be a Leonardo model id/],
    ['init_strength without an image', { prompt: 'p', params: { init_strength: 0.5 } }, /init_strength needs an init_image_id/],
    ['an undocumented field', { prompt: 'p', params: { steps: 20 } }, /Unrecognized key: "steps"/],
  ];
  for (const [label, msg, message] of refusals) {
    it(`refuses ${label} through Catch, before any request`, async () => {
      const { run, sandbox } = await loadFlow(['leonardo-generate'], generate);
      assert.match((await run(msg)).error?.message ?? '', message);
      assert.equal(sandbox.requestsTo('leonardo').length, 0);
    });
  }

  it('explains a refused key (401) and missing credits (402), never showing the key, and sends each submit once', async () => {
    const real = await startSandbox();
    try {
      const { run } = await loadFlow(['leonardo-generate'], generate, {
        provider: { kind: 'leonardo', baseUrl: real.baseUrl('leonardo') },
        credentials: { apiKey: 'leo-wrong-key-99' },
      });
      const refused = (await run({ prompt: 'p' })).error?.message ?? '';
      assert.match(refused, /HTTP 401 invalid-jwt: Invalid authentication credentials - the API key was refused/);
      assert.ok(!refused.includes('leo-wrong-key-99'));
    } finally {
      await helper.unload();
      await real.close();
    }
    const { run, sandbox } = await loadFlow(['leonardo-generate'], generate);
    sandbox.injectFault({
      api: 'leonardo',
      path: '/generations',
      fault: { type: 'status', status: 402, body: { error: 'Not enough API credits', code: 'insufficient-credits' } },
    });
    assert.match((await run({ prompt: 'p' })).error?.message ?? '', /Not enough API credits - not enough API credits: top up the Leonardo API balance/);
    assert.equal(generations(sandbox).length, 1);
  });

  it('says a prompt refused by the content filter was moderated; a failed or deleted generation ends in a clear error', async () => {
    const { run, sandbox } = await loadFlow(['leonardo-generate'], generate);
    assert.match((await run({ prompt: 'p [sandbox:moderate]' })).error?.message ?? '', /flagged by the content moderation filter/);
    sandbox.scriptJobs('leonardo', { outcome: 'fail', durationMs: 200 }, { outcome: 'expire', durationMs: 200 });
    assert.match((await run({ prompt: 'p' })).error?.message ?? '', /job \S+ failed: Leonardo reports the generation FAILED/);
    assert.match((await run({ prompt: 'p' })).error?.message ?? '', /expired before its result was collected/);
  });

  it('refuses a submit over the daily budget, priced by the free calculator, before it is sent', async () => {
    const { run, sandbox } = await loadFlow(['leonardo-generate'], generate, { provider: { budget: '20' } });
    sandbox.scriptJobs('leonardo', { durationMs: 100 });
    const small = await run({ prompt: 'p', params: { width: 512, height: 512, num_images: 1 } });
    assert.equal(small.error, undefined, small.error?.message);
    const large = await run({ prompt: 'p', params: { width: 1536, height: 1536, num_images: 4, alchemy: true } });
    assert.match(large.error?.message ?? '', /would cost about \d+ credits .* so it was not sent/);
    assert.equal(generations(sandbox).length, 1, 'only the affordable one was sent');
    const priced = sandbox.requestsTo('leonardo', 'POST', '/pricing-calculator').map((entry) => entry.body);
    assert.deepEqual((priced[1] as { serviceParams: { IMAGE_GENERATION: Msg } }).serviceParams.IMAGE_GENERATION, {
      imageWidth: 1536,
      imageHeight: 1536,
      numImages: 4,
      inferenceSteps: 15,
      promptMagic: false,
      alchemyMode: true,
      highResolution: false,
      isModelCustom: false,
      isSDXL: false,
      isPhoenix: false,
    });
  });

  it('hands the pending generation to job-poll, which completes it', async () => {
    const { run, sandbox } = await loadFlow(
      ['leonardo-generate', 'job-poll'],
      { ...generate, completion: 'job', wires: [['poll']] },
      {
        extra: [{ id: 'poll', type: 'job-poll', provider: 'cfg', initialDelay: '100', maxDelay: '200', wires: [['out']] }],
      },
    );
    sandbox.scriptJobs('leonardo', { durationMs: 300 });
    const { out, error } = await run({ prompt: 'p', params: { num_images: 1 } });
    assert.equal(error, undefined, error?.message);
    assert.equal((out?.job as { provider: string; status: string }).status, 'completed');
    assert.equal((out?.images as unknown[]).length, 1);
    assert.equal(generations(sandbox).length, 1);
  });

  it("gives up on a generation that never finishes after job-poll's timeout, saying it may still finish", async () => {
    const { run, sandbox } = await loadFlow(
      ['leonardo-generate', 'job-poll'],
      { ...generate, completion: 'job', wires: [['poll']] },
      { extra: [{ id: 'poll', type: 'job-poll', provider: 'cfg', initialDelay: '100', maxDelay: '200', timeout: '700', wires: [['out']] }] },
    );
    sandbox.scriptJobs('leonardo', { outcome: 'never' });
    const { error } = await run({ prompt: 'p', params: { num_images: 1 } });
    assert.match(error?.message ?? '', /job \S+ did not finish within 1 s\. It may still finish at the provider/);
    assert.equal(generations(sandbox).length, 1);
  });

  it('lists the platform models for the editor through a guarded admin endpoint', async () => {
    await loadFlow(['leonardo-generate'], generate);
    const answer = await helper.request().get('/image-gen/leonardo/models?provider=cfg');
    assert.equal(answer.status, 200);
    assert.ok((answer.body as { models: Array<{ id: string }> }).models.some((model) => model.id === PHOENIX));
    const missing = await helper.request().get('/image-gen/leonardo/models?provider=none');
    assert.equal(missing.status, 400);
    assert.match((missing.body as { error: { message: string } }).error.message, /no provider config is selected/);
  });

  describe("completion by Leonardo's webhook (one URL per API key, a callback key as Bearer)", () => {
    const serve = async (provider: Msg = {}, underTest: Msg = {}) => {
      const served = await serveTracked({ ...generate, completion: 'webhook', ...underTest }, provider, ['leonardo-generate'], [], {
        webhookKey: CALLBACK_KEY,
      });
      served.harness.sandbox.setCallback('leonardo', { url: `${served.url}${HOOK_PATH}`, key: CALLBACK_KEY });
      return served;
    };
    const deliver = (url: string, id: string, key: string, status = 'COMPLETE') =>
      request(`${url}${HOOK_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({
          type: 'image_generation.complete',
          data: { object: { id, status, images: [{ id: 'i', url: 'https://example.com/l.jpg', nsfw: false }] } },
        }),
      }).then(async (answer) => ({ status: answer.statusCode, text: await answer.body.text() }));

    it('completes by the webhook long before polling would start, one message, no poll', async () => {
      const { harness } = await serve();
      harness.sandbox.scriptJobs('leonardo', { durationMs: 300 });
      const { out, error } = await harness.run({ prompt: 'a fox' });
      assert.equal(error, undefined, error?.message);
      assert.equal((out?.job as { status: string }).status, 'completed');
      assert.equal(harness.sandbox.requestsTo('leonardo', 'GET').length, 0, 'no poll was needed');
      await waitFor(() => harness.sandbox.webhooks[0]?.status === 200, 5000, 'job-webhook to answer the delivery 200');
      await sleep(200);
      assert.equal(harness.outputs.length, 1);
    });

    it('refuses a delivery with another key (401), answers repeats 200 and ignores them', async () => {
      const { harness, url } = await serve();
      harness.sandbox.scriptJobs('leonardo', { outcome: 'never' });
      helper.getNode('n1').receive({ prompt: 'p', topic: 'kept' });
      await waitFor(() => harness.sandbox.jobIds('leonardo').length === 1, 5000, 'the submit');
      const id = harness.sandbox.jobIds('leonardo')[0];
      await sleep(100);
      assert.equal((await deliver(url, id, 'not-the-key')).status, 401);
      assert.equal((await deliver(url, 'another-generation', CALLBACK_KEY)).status, 401);
      assert.equal(harness.outputs.length, 0);
      assert.equal((await deliver(url, id, CALLBACK_KEY)).status, 200);
      await waitFor(() => harness.outputs.length === 1, 5000, 'the result');
      assert.equal(harness.outputs[0].topic, 'kept');
      assert.equal((await deliver(url, id, CALLBACK_KEY)).status, 200);
      await sleep(200);
      assert.equal(harness.outputs.length, 1, 'the repeat was ignored');
    });

    it('refuses a delivery for a config without a webhook key, and refuses completion webhook there before sending', async () => {
      const served = await serveTracked({ ...generate, completion: 'job' }, {}, ['leonardo-generate']);
      const { out } = await served.harness.run({ prompt: 'p' });
      const id = (out?.job as { id: string }).id;
      assert.equal((await deliver(served.url, id, CALLBACK_KEY)).status, 401);
      await helper.unload();
      await served.close();
      const withoutKey = await serveTracked({ ...generate, completion: 'webhook' }, {}, ['leonardo-generate']);
      assert.match((await withoutKey.harness.run({ prompt: 'p' })).error?.message ?? '', /needs the webhook callback key .* add it to the provider config/);
      assert.equal(generations(withoutKey.harness.sandbox).length, 0);
    });

    it('races the webhook against polling to exactly one message', async () => {
      const { harness } = await serve({ webhookGrace: '0' });
      harness.sandbox.scriptJobs('leonardo', { durationMs: 400 }, { durationMs: 400 }, { durationMs: 400 });
      const results = await Promise.all([harness.run({ prompt: 'a' }), harness.run({ prompt: 'b' }), harness.run({ prompt: 'c' })]);
      assert.deepEqual(
        results.map((result) => result.error?.message),
        [undefined, undefined, undefined],
      );
      await sleep(800);
      assert.equal(harness.outputs.length, 3, 'one message per job');
      assert.equal(generations(harness.sandbox).length, 3);
    });
  });
});
