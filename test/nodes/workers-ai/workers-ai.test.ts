import assert from 'node:assert/strict';
import { SANDBOX_ACCOUNT_ID, SANDBOX_API_KEY, startSandbox } from '../../../lib/sandbox';
import type { SandboxServer } from '../../../lib/sandbox';
import { loadFlow } from '../../support/flow';
import type { Msg } from '../../support/flow';
import { helper } from '../../support/node-red';

const worker = { type: 'workers-ai', endpoint: 'worker', model: '', prompt: '', params: {} };
const rest = { type: 'workers-ai', endpoint: 'rest', model: '@cf/black-forest-labs/flux-1-schnell', prompt: '', params: {} };

describe('workers-ai node', function () {
  this.timeout(20_000);
  let real: SandboxServer;
  before(async () => {
    await helper.startServer();
    real = await startSandbox();
  });
  after(async () => {
    await real.close();
    await helper.stopServer();
  });
  afterEach(() => helper.unload());

  it('sends the worker its documented body, and reads PNG bytes, cost and size from its answer', async () => {
    const { run, sandbox } = await loadFlow(['workers-ai'], { ...worker, params: { aspectRatio: '1:1' } });
    const { out } = await run({ payload: 'a cat in a hat', params: { steps: 4 }, topic: 'kept' });
    assert.deepEqual(sandbox.requestsTo('workers-ai', 'POST')[0].body, { aspectRatio: '1:1', steps: 4, prompt: 'a cat in a hat' });
    assert.ok(Buffer.isBuffer(out?.payload));
    assert.equal(out?.topic, 'kept');
    const [image] = out?.images as Array<{ mimeType: string; width: number; height: number; data: Buffer }>;
    assert.deepEqual([image.mimeType, image.width, image.height], ['image/png', 1024, 1024]);
    const job = out?.job as { provider: string; cost: unknown; params: Msg };
    assert.equal(job.provider, 'workers-ai');
    assert.deepEqual(job.cost, { usd: 0.000652, neurons: 57.6 });
    assert.equal(job.params.tiles, 4);
  });

  it("decodes the REST API's base64 JPEG, and reads raw PNG from models that answer image/png", async () => {
    const { run, sandbox } = await loadFlow(['workers-ai'], rest);
    const flux = await run({ prompt: 'a fox', params: { steps: 6, seed: 5 } });
    assert.deepEqual(sandbox.requestsTo('cloudflare', 'POST')[0].body, { steps: 6, seed: 5, prompt: 'a fox' });
    assert.equal((flux.out?.images as Array<{ mimeType: string }>)[0].mimeType, 'image/jpeg');
    assert.deepEqual((flux.out?.payload as Buffer).subarray(0, 2), Buffer.from([0xff, 0xd8]));
    const sdxl = await run({ prompt: 'a fox', model: '@cf/stabilityai/stable-diffusion-xl-base-1.0', params: { num_steps: 20 } });
    assert.equal((sdxl.out?.images as Array<{ mimeType: string }>)[0].mimeType, 'image/png');
    assert.equal((sdxl.out?.job as { model: string }).model, '@cf/stabilityai/stable-diffusion-xl-base-1.0');
  });

  it('uses the REST API for a cloudflare config, with the account id in the path and the token as a bearer', async () => {
    const { run } = await loadFlow(['workers-ai'], worker, {
      provider: { kind: 'cloudflare', baseUrl: real.baseUrl('cloudflare') },
      credentials: { apiKey: SANDBOX_API_KEY, accountId: SANDBOX_ACCOUNT_ID },
    });
    const before = real.requestsTo('cloudflare').length;
    const { out } = await run({ prompt: 'p' });
    assert.equal((out?.job as { provider: string }).provider, 'cloudflare');
    const sent = real.requestsTo('cloudflare')[before];
    assert.equal(sent.path, `/accounts/${SANDBOX_ACCOUNT_ID}/ai/run/@cf/black-forest-labs/flux-1-schnell`);
    assert.equal(sent.headers.authorization, `Bearer ${SANDBOX_API_KEY}`);
  });

  const refusals: Array<[string, Record<string, unknown>, Msg, RegExp]> = [
    ['steps 9', worker, { prompt: 'p', params: { steps: 9 } }, /steps: Too big/],
    ['an unknown aspect ratio', worker, { prompt: 'p', params: { aspectRatio: '2:1' } }, /aspectRatio: Invalid option/],
    ['an empty prompt', worker, { prompt: '   ' }, /prompt: the prompt is empty/],
    ['a 3000-character prompt', rest, { prompt: 'x'.repeat(3000) }, /longer than 2048 characters/],
    ['a model name that is not a Workers AI model', rest, { prompt: 'p', model: 'flux' }, /"flux" is not a Workers AI model name/],
    ['steps as a string', rest, { prompt: 'p', params: { steps: 'four' } }, /steps: Invalid input: expected number/],
    ['a model name with ".." segments', rest, { prompt: 'p', model: '@cf/../..' }, /would change the API route/],
  ];
  for (const [label, node, msg, message] of refusals) {
    it(`refuses ${label} before any request`, async () => {
      const { run, sandbox } = await loadFlow(['workers-ai'], node);
      assert.match((await run(msg)).error?.message ?? '', message);
      assert.equal(sandbox.requests.length, 0);
    });
  }

  it("reports the worker's {error} body, and does not retry a 3036 daily-allocation 429", async () => {
    const { run, sandbox } = await loadFlow(['workers-ai'], rest);
    sandbox.injectFault({ api: 'workers-ai', fault: { type: 'status', status: 500, body: { error: 'Failed to generate image' } } });
    const daily = { success: false, errors: [{ code: 3036, message: 'Account limited' }], messages: [], result: null };
    sandbox.injectFault({ api: 'cloudflare', fault: { type: 'status', status: 429, body: daily } });
    const { error } = await run({ prompt: 'p' });
    assert.match(error?.message ?? '', /HTTP 429 3036: Account limited - the daily free allocation of Workers AI neurons is used up/);
    assert.equal(sandbox.requestsTo('cloudflare', 'POST').length, 1);
    await helper.unload();
    const viaWorker = await loadFlow(['workers-ai'], worker);
    viaWorker.sandbox.injectFault({ api: 'workers-ai', fault: { type: 'status', status: 400, body: { error: 'Prompt is required' } } });
    assert.match((await viaWorker.run({ prompt: 'p' })).error?.message ?? '', /HTTP 400: Prompt is required/);
  });
});
