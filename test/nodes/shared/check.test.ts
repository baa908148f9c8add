import assert from 'node:assert/strict';
import { loadFlow } from '../../support/flow';
import { helper } from '../../support/node-red';

/** POST /image-gen/<type>/check, as the edit dialog calls it. */
const check = async (type: string, settings: Record<string, unknown>, provider = 'cfg') =>
  (await helper.request().post(`/image-gen/${type}/check`).send({ provider, settings })).body as { ok: boolean; estimate?: unknown; message?: string };

describe("the edit dialog's check: the runtime's own verdict and the estimate a budget uses, without sending anything paid", function () {
  this.timeout(20_000);
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  it('prices each node the way its budget would, and gives the message a message would fail with', async () => {
    const { run, sandbox } = await loadFlow(
      ['flux-generate', 'piapi-task', 'leonardo-generate', 'workers-ai'],
      { type: 'flux-generate', endpoint: 'flux', model: 'flux-pro', params: {} },
      { provider: { budget: '500' } },
    );
    assert.deepEqual(await check('flux-generate', { endpoint: 'flux', model: 'flux-1.1-pro-ultra', params: { num_outputs: 2 } }), {
      ok: true,
      estimate: { unit: 'credits', amount: 3 },
    });
    assert.deepEqual(await check('flux-generate', { endpoint: 'bfl', model: 'flux-2-pro', params: { width: 1024, height: 1024 } }), {
      ok: true,
      estimate: { unit: 'credits', amount: 3 },
    });
    assert.deepEqual(await check('piapi-task', { model: 'Qubico/flux1-schnell', taskType: 'txt2img', params: { batch_size: 2 } }), {
      ok: true,
      estimate: { unit: 'usd', amount: 0.004 },
    });
    assert.deepEqual(await check('workers-ai', { endpoint: 'rest', model: '@cf/black-forest-labs/flux-1-schnell', params: { steps: 8 } }), {
      ok: true,
      estimate: { unit: 'usd', amount: 0.001092 },
    });
    const leonardo = await check('leonardo-generate', { model: '', params: { width: 512, height: 512, num_images: 1 } });
    assert.equal(leonardo.ok, true, leonardo.message);
    assert.equal(sandbox.requestsTo('leonardo', 'POST', '/pricing-calculator').length, 1, 'priced by the free calculator, as the budget is');

    const refused = await check('flux-generate', { endpoint: 'flux', model: 'flux-pro', params: { num_outputs: 9 } });
    const { error } = await run({ prompt: 'p', params: { num_outputs: 9 } });
    assert.equal(refused.ok, false);
    assert.equal(error?.message, `InvalidRequestError: ${refused.message}`, 'the same words as the message would fail with');
    assert.match(refused.message ?? '', /num_outputs/);
    assert.deepEqual(await check('piapi-task', { model: 'Qubico/flux1-schnell', taskType: 'img2img', params: {} }), {
      ok: false,
      message: 'PiAPI img2img: input.image: Invalid input: expected string, received undefined',
    });
    assert.deepEqual(await check('flux-generate', { endpoint: 'nope' }), {
      ok: false,
      message: 'endpoint: Invalid option: expected one of "flux"|"jobs"|"bfl"',
    });
    assert.match((await check('flux-generate', {}, 'missing')).message ?? '', /no provider config is selected/);

    const paid = sandbox.requests.filter((entry) => entry.method === 'POST' && !entry.path.startsWith('/pricing-calculator'));
    assert.deepEqual(paid, [], 'nothing paid was sent');
  });

  it("checks local-sd's parameters as this machine would run them, and as a VisionCraft Pro server would", async () => {
    const { run, sandbox } = await loadFlow(['local-sd'], { type: 'local-sd', provider: '', model: 'sandbox-tiny-sd', params: {} });
    assert.deepEqual(await check('local-sd', { model: 'sandbox-tiny-sd', params: { num_inference_steps: 8, width: 256, height: 256 } }, ''), {
      ok: true,
      estimate: null,
    });
    const refused = await check('local-sd', { model: 'sandbox-tiny-sd', params: { num_inference_steps: 60 } }, '');
    const { error } = await run({ prompt: 'p', params: { num_inference_steps: 60 } });
    assert.equal(refused.ok, false);
    assert.equal(error?.message, `InvalidRequestError: ${refused.message}`, 'the same words as the message would fail with');
    assert.match((await check('local-sd', { model: 'sandbox-tiny-sd', params: { width: 100 } }, '')).message ?? '', /params\.width: must be a multiple of 8/);
    // With a server's config, its documented ranges: VisionCraft takes 15 to 50 steps, where this machine runs distilled models from 1.
    assert.deepEqual(await check('local-sd', { model: 'stable-diffusion-1.5', params: { num_inference_steps: 20 } }), {
      ok: true,
      estimate: { unit: 'usd', amount: 0 },
    });
    assert.match((await check('local-sd', { model: 'stable-diffusion-1.5', params: { num_inference_steps: 8 } })).message ?? '', /num_inference_steps/);
    assert.deepEqual(
      sandbox.requests.filter((entry) => entry.method === 'POST'),
      [],
      'nothing was sent to the server',
    );
  });
});
