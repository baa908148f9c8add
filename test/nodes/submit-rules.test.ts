import assert from 'node:assert/strict';
import type { SandboxApi } from '../../lib/sandbox';
import { loadFlow, openHandles, sleep } from '../support/flow';
import { helper } from '../support/node-red';

/** The paid-submit promises, checked on every submitting node against its own emulator. */
const submitters: Array<{ type: string; node: Record<string, unknown>; api: SandboxApi; path: string; pollPath?: string }> = [
  {
    type: 'flux-generate',
    node: { endpoint: 'jobs', model: 'flux-dev', params: {}, completion: 'wait' },
    api: 'pixeldojo',
    path: '/models/flux-dev/run',
    pollPath: '/jobs/',
  },
  {
    type: 'piapi-task',
    node: { model: 'Qubico/flux1-schnell', taskType: 'txt2img', params: {}, completion: 'wait' },
    api: 'piapi',
    path: '/task',
    pollPath: '/task/',
  },
  {
    type: 'flux-generate',
    node: { endpoint: 'bfl', model: 'flux-pro-1.1', params: {}, completion: 'wait', download: false },
    api: 'bfl',
    path: '/v1/flux-pro-1.1',
    pollPath: '/v1/get_result',
  },
  {
    type: 'leonardo-generate',
    node: { model: '', params: { num_images: 1 }, completion: 'wait' },
    api: 'leonardo',
    path: '/generations',
    pollPath: '/generations/',
  },
  { type: 'workers-ai', node: { endpoint: 'worker', params: {} }, api: 'workers-ai', path: '/' },
];

describe('every submitting node keeps the paid-submit promises', function () {
  this.timeout(30_000);
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  for (const { type, node, api, path, pollPath } of submitters) {
    describe(`${type} (${api})`, () => {
      const load = () => loadFlow([type], { type, ...node }, { provider: { timeout: '1000' } });
      const submits = (sandbox: Awaited<ReturnType<typeof load>>['sandbox']) => sandbox.requestsTo(api, 'POST').filter((entry) => entry.path === path);

      it('waits out a 429 with Retry-After and then succeeds', async () => {
        const { run, sandbox } = await load();
        if (pollPath) sandbox.scriptJobs(api, { durationMs: 200 });
        sandbox.injectFault({ api, method: 'POST', fault: { type: 'status', status: 429, retryAfter: '1' } });
        const { out, error } = await run({ prompt: 'p' });
        assert.equal(error, undefined, error?.message);
        assert.equal((out?.job as { status: string }).status, 'completed');
        const [first, second] = submits(sandbox);
        assert.ok(second.receivedAt - first.receivedAt >= 1000);
      });

      for (const [label, fault] of [
        ['a 500', { type: 'status', status: 500 }],
        ['a timeout', { type: 'hang' }],
        ['a reset connection', { type: 'reset' }],
      ] as const) {
        it(`sends the submit exactly once after ${label}, saying the job may exist`, async () => {
          const { run, sandbox } = await load();
          sandbox.injectFault({ api, method: 'POST', fault });
          const { error } = await run({ prompt: 'p' });
          assert.match(error?.message ?? '', /may have reached .* so a job may exist and be billed: it was not sent again/);
          await sleep(300);
          assert.equal(submits(sandbox).length, 1);
        });
      }

      it('sends nothing after a redeploy mid-request, and leaves no timer or socket open', async () => {
        const before = await openHandles();
        const { sandbox, outputs, errors } = await load();
        sandbox.injectFault({ api, method: 'POST', fault: { type: 'latency', ms: 800 } });
        helper.getNode('n1').receive({ prompt: 'p' });
        await sleep(200);
        await helper.unload();
        await sleep(1200);
        assert.deepEqual(outputs, []);
        assert.deepEqual(errors, []);
        assert.equal(submits(sandbox).length, 1);
        assert.deepEqual(await openHandles(), before);
      });
    });
  }

  /** Every paid submit path: PixelDojo /flux and jobs, PiAPI, the Workers AI worker and the REST API. */
  const paidPaths: Array<{ label: string; type: string; node: Record<string, unknown>; api: SandboxApi; path?: string }> = [
    { label: 'flux-generate /flux', type: 'flux-generate', node: { endpoint: 'flux', model: 'flux-pro', params: {}, completion: 'wait' }, api: 'pixeldojo' },
    { label: 'flux-generate jobs', type: 'flux-generate', node: { endpoint: 'jobs', model: 'flux-dev', params: {}, completion: 'wait' }, api: 'pixeldojo' },
    { label: 'piapi-task', type: 'piapi-task', node: { model: 'Qubico/flux1-schnell', taskType: 'txt2img', params: {}, completion: 'wait' }, api: 'piapi' },
    { label: 'flux-generate bfl', type: 'flux-generate', node: { endpoint: 'bfl', model: 'flux-pro-1.1', params: {}, completion: 'wait' }, api: 'bfl' },
    { label: 'leonardo-generate', type: 'leonardo-generate', node: { params: { num_images: 1 }, completion: 'wait' }, api: 'leonardo', path: '/generations' },
    { label: 'workers-ai worker', type: 'workers-ai', node: { endpoint: 'worker', params: {} }, api: 'workers-ai' },
    { label: 'workers-ai REST', type: 'workers-ai', node: { endpoint: 'rest', model: '@cf/black-forest-labs/flux-1-schnell', params: {} }, api: 'cloudflare' },
  ];
  for (const { label, type, node, api, path } of paidPaths) {
    for (const [answer, fault] of [
      ['a body that is not what it should be', { type: 'malformed' }],
      ['a wrong-shaped JSON body', { type: 'status', status: 200, body: { unexpected: true } }],
    ] as const) {
      it(`${label}: a success answer with ${answer} says the job may exist, and the budget keeps its cost`, async () => {
        const { run, sandbox } = await loadFlow([type], { type, ...node }, { provider: { budget: '1000' } });
        sandbox.injectFault({ api, method: 'POST', path, fault });
        const { out, error } = await run({ prompt: 'p' });
        assert.equal(out, undefined);
        assert.match(error?.message ?? '', /answered the paid request with success, so a job may exist and be billed: it was not sent again/);
        assert.equal(sandbox.requestsTo(api, 'POST', path).length, 1, 'sent once');
        const status = (await helper.request().get('/image-gen/provider-config/cfg/status')).body as {
          budget: { spent: Record<string, number>; jobs: Array<{ sent: boolean }> };
        };
        assert.deepEqual(
          status.budget.jobs.map((job) => job.sent),
          [true],
          'the reservation is kept as sent',
        );
        assert.ok(
          Object.values(status.budget.spent).every((amount) => amount > 0),
          JSON.stringify(status.budget.spent),
        );
      });
    }
  }
});
