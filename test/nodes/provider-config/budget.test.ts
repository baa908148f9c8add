import assert from 'node:assert/strict';
import { loadFlow } from '../../support/flow';
import { helper } from '../../support/node-red';

const flux = { type: 'flux-generate', endpoint: 'flux', model: 'flux-pro', prompt: '', params: {}, completion: 'wait' };
const piapi = { type: 'piapi-task', model: 'Qubico/flux1-schnell', taskType: 'txt2img', prompt: '', params: {}, completion: 'wait' };

interface StatusAnswer {
  simulated: boolean;
  budget: { limit?: number; spent: Record<string, number>; jobs: Array<{ estimate: number; actual?: number; sent: boolean }> };
}

describe('provider-config daily budget', function () {
  this.timeout(20_000);
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  const status = async () => (await helper.request().get('/image-gen/provider-config/cfg/status')).body as StatusAnswer;

  it('with a 2-credit budget, refuses the third 1-credit submit before any request is sent', async () => {
    const harness = await loadFlow(['flux-generate'], flux, { provider: { budget: '2' } });
    assert.ok((await harness.run({ prompt: 'one' })).out);
    assert.ok((await harness.run({ prompt: 'two' })).out);
    const { out, error } = await harness.run({ prompt: 'three' });
    assert.equal(out, undefined);
    assert.match(error?.message ?? '', /would cost about 1 credits and 2 of the 2 credits budget .* was not sent/);
    assert.equal(harness.sandbox.requestsTo('pixeldojo', 'POST', '/flux').length, 2, 'the third was never sent');
    const { budget, simulated } = await status();
    assert.equal(simulated, true, 'the sandbox says its spending is simulated, not charged');
    assert.equal(budget.limit, 2);
    assert.deepEqual(budget.spent, { credits: 2 });
    assert.deepEqual(
      budget.jobs.map((job) => [job.estimate, job.actual, job.sent]),
      [
        [1, 1, true],
        [1, 1, true],
      ],
      'the credits the provider reported are recorded per job',
    );
  });

  it('keeps the estimate of an ambiguous submit counted (it may be billed), and gives back one that never left', async () => {
    const harness = await loadFlow(['piapi-task'], piapi, { provider: { budget: '0.004' } });
    harness.sandbox.injectFault({ api: 'piapi', method: 'POST', path: '/task', fault: { type: 'status', status: 500 } });
    assert.match((await harness.run({ prompt: 'p' })).error?.message ?? '', /may exist/);
    assert.deepEqual((await status()).budget.spent, { usd: 0.002 });
    const refused = await harness.run({ prompt: 'p', params: { batch_size: 2 } });
    assert.match(refused.error?.message ?? '', /would cost about 0\.004 usd/);
    assert.equal(harness.sandbox.requestsTo('piapi', 'POST', '/task').length, 1);
    harness.sandbox.injectFault({ api: 'piapi', method: 'POST', path: '/task', fault: { type: 'status', status: 429, retryAfter: '3600' } });
    assert.match((await harness.run({ prompt: 'p' })).error?.message ?? '', /longer than the 60 s/);
    assert.deepEqual((await status()).budget.spent, { usd: 0.002 }, 'a 429 was not taken by the provider: given back');
    assert.match((await harness.run({ prompt: '' })).error?.message ?? '', /prompt is empty/);
    assert.deepEqual((await status()).budget.spent, { usd: 0.002 }, 'bad input reserves nothing');
  });

  it('answers 404 for an id that is not a deployed provider config', async () => {
    await loadFlow(['flux-generate'], flux);
    assert.equal((await helper.request().get('/image-gen/provider-config/nope/status')).status, 404);
    assert.deepEqual((await status()).budget.spent, {});
  });
});
