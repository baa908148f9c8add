import assert from 'node:assert/strict';
import { request } from 'undici';
import { startSandbox } from '../../../lib/sandbox';
import type { SandboxServer } from '../../../lib/sandbox';
import { loadFlow, sleep } from '../../support/flow';
import type { Msg } from '../../support/flow';
import { waitFor } from '../../support/net';
import { helper } from '../../support/node-red';
import { HOOK_PATH, webhookSuite } from '../../support/webhook-flow';

/** flux-generate on Black Forest Labs: a sandbox config serves it through the `bfl` endpoint setting. */
const generate = { type: 'flux-generate', endpoint: 'bfl', model: 'flux-pro-1.1', prompt: '', params: {}, completion: 'wait', download: false };

describe('flux-generate on Black Forest Labs', function () {
  this.timeout(30_000);
  const serveTracked = webhookSuite();
  const submits = (sandbox: SandboxServer, model = 'flux-pro-1.1') => sandbox.requestsTo('bfl', 'POST', `/v1/${model}`);

  it('sends each documented input with its name and the key as x-key, polls the polling_url, and says when the result URL expires', async () => {
    const { run, sandbox } = await loadFlow(['flux-generate'], generate);
    sandbox.scriptJobs('bfl', { durationMs: 300 });
    const params = {
      width: 1024,
      height: 768,
      seed: 77,
      safety_tolerance: 2,
      output_format: 'png',
      prompt_upsampling: true,
      image_prompt: 'https://example.com/in.png',
    };
    const started = Date.now();
    const { out, error } = await run({ prompt: 'a glass teapot', params });
    assert.equal(error, undefined, error?.message);
    const [sent] = submits(sandbox);
    assert.deepEqual(sent.body, { ...params, prompt: 'a glass teapot' });
    assert.equal(sent.headers['x-key'], 'sandbox-key');
    const job = out?.job as { id: string; provider: string; status: string; cost: unknown; pollUrl: string };
    assert.deepEqual([job.provider, job.status], ['bfl', 'completed']);
    assert.deepEqual(job.cost, { credits: 4, usd: 0.04 });
    assert.equal(job.pollUrl, `${sandbox.origin}/bfl/v1/get_result?id=${job.id}`);
    const polls = sandbox.requestsTo('bfl', 'GET', '/v1/get_result');
    assert.ok(polls.length >= 1 && polls.every((poll) => poll.headers['x-key'] === 'sandbox-key'));
    const [image] = out?.images as Array<{ url: string; seed: number; expiresAt: string }>;
    assert.equal(image.seed, 77);
    const lifetime = Date.parse(image.expiresAt) - started;
    assert.ok(lifetime > 9 * 60_000 && lifetime <= 10 * 60_000 + 5_000, `expires about 10 minutes on: ${lifetime} ms`);
  });

  it('downloads the images when the node was saved without the download setting, as BFL URLs expire in 10 minutes', async () => {
    const { download: _download, ...withoutDownload } = generate;
    const { run, sandbox } = await loadFlow(['flux-generate'], withoutDownload);
    sandbox.scriptJobs('bfl', { durationMs: 200 });
    const { out, error } = await run({ prompt: 'p', params: { width: 512, height: 512 } });
    assert.equal(error, undefined, error?.message);
    assert.ok(Buffer.isBuffer(out?.payload), 'the payload is the image bytes');
  });

  const models: Array<[string, Msg]> = [
    ['flux-pro-1.1-ultra', { aspect_ratio: '21:9', raw: true, image_prompt_strength: 0.3 }],
    ['flux-dev', { width: 512, height: 512, steps: 28, guidance: 3 }],
    ['flux-kontext-pro', { input_image: 'https://example.com/in.png', aspect_ratio: '1:1' }],
    ['flux-pro-1.0-fill', { image: 'aGVsbG8=', mask: 'aGVsbG8=', steps: 50, guidance: 60 }],
    ['flux-pro-1.0-expand', { image: 'aGVsbG8=', top: 256, left: 128, steps: 30 }],
    ['flux-2-pro', { width: 1440, height: 1440, input_image: 'https://example.com/a.png', input_image_2: 'https://example.com/b.png' }],
    ['flux-2-flex', { steps: 40, guidance: 4.5 }],
    ['flux-2-klein-4b', { width: 768, height: 1024 }],
  ];
  for (const [model, params] of models) {
    it(`submits ${model} with its own documented inputs`, async () => {
      const { run, sandbox } = await loadFlow(['flux-generate'], { ...generate, model, completion: 'job' });
      const { out, error } = await run({ prompt: 'make it so', params });
      assert.equal(error, undefined, error?.message);
      assert.equal((out?.job as { status: string }).status, 'pending');
      assert.deepEqual(submits(sandbox, model)[0].body, { ...params, prompt: 'make it so' });
    });
  }

  const refusals: Array<[string, Msg, RegExp]> = [
    ['an empty prompt', { prompt: '' }, /BFL flux-pro-1.1: prompt: Invalid input/],
    ['a width that is not a multiple of 32', { prompt: 'p', params: { width: 1000 } }, /width: must be a multiple of 32/],
    ['a height over 1440', { prompt: 'p', params: { height: 1472 } }, /height: Too big/],
    ['an unknown endpoint', { prompt: 'p', model: 'flux-pro-9' }, /BFL has no endpoint "flux-pro-9"/],
    ['raw on flux-pro-1.1', { prompt: 'p', params: { raw: true } }, /Unrecognized key: "raw"/],
    ['safety_tolerance 7', { prompt: 'p', params: { safety_tolerance: 7 } }, /safety_tolerance: Too big/],
    ['output_format webp', { prompt: 'p', params: { output_format: 'webp' } }, /output_format: Invalid option/],
    ['steps on flux-dev over 50', { prompt: 'p', model: 'flux-dev', params: { steps: 51 } }, /steps: Too big/],
    ['fill without an image', { prompt: 'p', model: 'flux-pro-1.0-fill' }, /image: Invalid input/],
    ['an aspect ratio that is not a ratio', { prompt: 'p', model: 'flux-pro-1.1-ultra', params: { aspect_ratio: 'wide' } }, /aspect_ratio: must be a ratio/],
  ];
  for (const [label, msg, message] of refusals) {
    it(`refuses ${label} through Catch, before any request`, async () => {
      const { run, sandbox } = await loadFlow(['flux-generate'], generate);
      assert.match((await run(msg)).error?.message ?? '', message);
      assert.equal(sandbox.requestsTo('bfl').length, 0);
    });
  }

  it('says a moderated request or image was moderated, apart from a failure, an unknown task and a job that never ends', async () => {
    const { run, sandbox } = await loadFlow(['flux-generate'], generate, {
      extra: [
        { id: 'status', type: 'status', scope: ['n1'], wires: [['statuses']] },
        { id: 'statuses', type: 'helper' },
      ],
    });
    const statuses: string[] = [];
    helper.getNode('statuses').on('input', (msg: { status: { text: string } }) => statuses.push(msg.status.text));
    sandbox.scriptJobs('bfl', { durationMs: 200 }, { durationMs: 200 }, { outcome: 'fail', durationMs: 200 }, { outcome: 'expire', durationMs: 200 });
    assert.match((await run({ prompt: 'p [sandbox:moderate]' })).error?.message ?? '', /job \S+ was moderated: BFL moderated the generated image/);
    // The test helper loads no catalogue, so a status shows its key.
    await waitFor(() => statuses.at(-1) === 'common.status.moderated', 3000, `the moderated status, not ${statuses.join(', ')}`);
    assert.match((await run({ prompt: 'p [sandbox:request-moderated]' })).error?.message ?? '', /was moderated: BFL moderated the request/);
    assert.match((await run({ prompt: 'p' })).error?.message ?? '', /job \S+ failed: the generation failed/);
    assert.match((await run({ prompt: 'p' })).error?.message ?? '', /expired before its result was collected/);
  });

  it("gives up on a job that stays Pending after job-poll's timeout, polling its polling_url", async () => {
    const { run, sandbox } = await loadFlow(
      ['flux-generate', 'job-poll'],
      { ...generate, completion: 'job', wires: [['poll']] },
      { extra: [{ id: 'poll', type: 'job-poll', provider: 'cfg', initialDelay: '100', maxDelay: '200', timeout: '700', wires: [['out']] }] },
    );
    sandbox.scriptJobs('bfl', { outcome: 'never' });
    const { error } = await run({ prompt: 'p' });
    assert.match(error?.message ?? '', /job bfl_\S+ did not finish within 1 s\. It may still finish at the provider/);
    assert.ok(sandbox.requestsTo('bfl', 'GET', '/v1/get_result?id=bfl_').length >= 2, 'polled at its polling_url');
  });

  it("sends the key only to BFL's hosts or the configured base URL host: a polling_url elsewhere is refused", async () => {
    const { run, sandbox } = await loadFlow(['flux-generate'], generate);
    sandbox.injectFault({
      api: 'bfl',
      method: 'POST',
      fault: { type: 'status', status: 200, body: { id: 'task-1', polling_url: 'https://collector.example.com/v1/get_result?id=task-1' } },
    });
    assert.match(
      (await run({ prompt: 'p' })).error?.message ?? '',
      /polling URL https:\/\/collector.example.com is not BFL's nor the provider config's host: the key is not sent there/,
    );
  });

  it('explains a refused key (401) and missing credits (402), never showing the key', async () => {
    const real = await startSandbox();
    try {
      const { run } = await loadFlow(['flux-generate'], generate, {
        provider: { kind: 'bfl', baseUrl: real.baseUrl('bfl') },
        credentials: { apiKey: 'bfl-wrong-key-42' },
      });
      const refused = (await run({ prompt: 'p' })).error?.message ?? '';
      assert.match(refused, /Invalid or missing API key - the API key was refused/);
      assert.ok(!refused.includes('bfl-wrong-key-42'));
    } finally {
      await helper.unload();
      await real.close();
    }
    const { run, sandbox } = await loadFlow(['flux-generate'], generate);
    sandbox.injectFault({ api: 'bfl', method: 'POST', fault: { type: 'status', status: 402, body: { detail: 'Insufficient credits' } } });
    assert.match((await run({ prompt: 'p' })).error?.message ?? '', /Insufficient credits - not enough credits: top up the BFL account/);
    assert.equal(submits(sandbox).length, 1);
  });

  it('refuses a submit over the daily budget before it is sent', async () => {
    const { run, sandbox } = await loadFlow(['flux-generate'], { ...generate, completion: 'job' }, { provider: { budget: '6' } });
    assert.equal((await run({ prompt: 'p' })).error, undefined);
    assert.match((await run({ prompt: 'p' })).error?.message ?? '', /would cost about 4 credits and 4 of the 6 credits budget .* so it was not sent/);
    assert.equal(submits(sandbox).length, 1);
  });

  it("completes by webhook (the job's token in webhook_url, its secret as webhook_secret), refuses a wrong token, and sends one message", async () => {
    const served = await serveTracked({ ...generate, completion: 'webhook' }, {}, ['flux-generate']);
    const { harness, url } = served;
    harness.sandbox.scriptJobs('bfl', { durationMs: 400 });
    const result = harness.run({ prompt: 'a fox' });
    await waitFor(() => submits(harness.sandbox).length === 1, 5000, 'the submit');
    const body = submits(harness.sandbox)[0].body as { webhook_url: string; webhook_secret: string };
    const hook = new URL(body.webhook_url);
    assert.equal(`${hook.origin}${hook.pathname}`, `${url}${HOOK_PATH}`);
    assert.equal(hook.searchParams.get('bfl_token'), body.webhook_secret);
    assert.ok(body.webhook_secret.length >= 32);
    const forged = await request(`${url}${HOOK_PATH}?bfl_token=guess`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'x', status: 'Ready', result: { sample: 'https://example.com/forged.png' } }),
    });
    assert.equal(forged.statusCode, 401);
    await forged.body.dump();
    const { out, error } = await result;
    assert.equal(error, undefined, error?.message);
    assert.equal((out?.job as { status: string }).status, 'completed');
    assert.equal(harness.sandbox.requestsTo('bfl', 'GET').length, 0, 'completed by the webhook, not by polling');
    await sleep(200);
    assert.equal(harness.outputs.length, 1);
  });

  it('races the webhook against polling to exactly one message per job', async () => {
    const served = await serveTracked({ ...generate, completion: 'webhook' }, { webhookGrace: '0' }, ['flux-generate']);
    const { harness } = served;
    harness.sandbox.scriptJobs('bfl', { durationMs: 400 }, { durationMs: 400 }, { durationMs: 400 });
    const results = await Promise.all(['a', 'b', 'c'].map((prompt) => harness.run({ prompt })));
    assert.deepEqual(
      results.map((result) => result.error?.message),
      [undefined, undefined, undefined],
    );
    await waitFor(() => harness.sandbox.webhooks.length >= 3 && harness.sandbox.webhooks.every((hook) => hook.status !== undefined), 5000, 'the deliveries');
    await sleep(300);
    assert.equal(harness.outputs.length, 3, 'one message per job');
    assert.equal(submits(harness.sandbox).length, 3);
  });
});
