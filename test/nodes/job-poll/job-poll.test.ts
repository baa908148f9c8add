import assert from 'node:assert/strict';
import { loadFlow, openHandles, sleep } from '../../support/flow';
import { waitFor } from '../../support/net';
import { helper } from '../../support/node-red';

const poll = { type: 'job-poll', initialDelay: '50', maxDelay: '200', timeout: '', download: false };

describe('job-poll node', function () {
  this.timeout(20_000);
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  it("completes the pending msg.job a flux-generate node sent, keeping the message's other properties", async () => {
    const harness = await loadFlow(
      ['job-poll', 'flux-generate'],
      { ...poll, download: true },
      {
        extra: [{ id: 'gen', type: 'flux-generate', provider: 'cfg', endpoint: 'jobs', model: 'flux-dev', params: {}, completion: 'job', wires: [['n1']] }],
      },
    );
    harness.sandbox.scriptJobs('pixeldojo', { durationMs: 500 });
    const done = new Promise<Record<string, unknown>>((resolve) => helper.getNode('out').on('input', resolve));
    helper.getNode('gen').receive({ prompt: 'a lighthouse', topic: 'kept', res: { id: 'http-response' } });
    const out = await done;
    const job = out.job as { status: string; id: string; completedAt: string };
    assert.equal(job.status, 'completed');
    assert.ok(job.completedAt);
    assert.equal(out.topic, 'kept');
    assert.deepEqual(out.res, { id: 'http-response' });
    assert.ok(Buffer.isBuffer(out.payload));
    assert.equal(harness.sandbox.requestsTo('pixeldojo', 'POST').length, 1);
    assert.ok(harness.sandbox.requestsTo('pixeldojo', 'GET', `/jobs/${job.id}`).length >= 2);
  });

  it('keeps completion "job" + job-poll within the provider config\'s Max jobs: a handed-on job holds its slot until it ends', async () => {
    const harness = await loadFlow(['job-poll', 'flux-generate'], poll, {
      provider: { concurrency: '2' },
      extra: [{ id: 'gen', type: 'flux-generate', provider: 'cfg', endpoint: 'jobs', model: 'flux-dev', params: {}, completion: 'job', wires: [['n1']] }],
    });
    harness.sandbox.scriptJobs('pixeldojo', ...Array.from({ length: 6 }, () => ({ durationMs: 400 })));
    const outputs: number[] = [];
    helper.getNode('out').on('input', () => outputs.push(Date.now()));
    for (let index = 0; index < 6; index++) helper.getNode('gen').receive({ prompt: `job ${index}` });
    await waitFor(() => outputs.length === 6, 15_000, 'six results');
    // At each submit the provider saw, at most 2 jobs were submitted and not yet completed.
    const submits = harness.sandbox.requestsTo('pixeldojo', 'POST').map((request) => request.receivedAt);
    submits.forEach((at, index) => {
      const completedBefore = outputs.filter((done) => done <= at).length;
      assert.ok(index + 1 - completedBefore <= 2, `submit ${index + 1} left ${index + 1 - completedBefore} jobs in flight`);
    });
    assert.equal(submits.length, 6);
  });

  it('completes a PiAPI task from its id and provider alone', async () => {
    const { run, sandbox } = await loadFlow(['job-poll', 'piapi-task'], poll, {
      extra: [
        {
          id: 'gen',
          type: 'piapi-task',
          provider: 'cfg',
          model: 'Qubico/flux1-schnell',
          taskType: 'txt2img',
          params: {},
          completion: 'job',
          wires: [['submitted']],
        },
        { id: 'submitted', type: 'helper' },
      ],
    });
    sandbox.scriptJobs('piapi', { durationMs: 300 });
    const submitted = await new Promise<Record<string, unknown>>((resolve) => {
      helper.getNode('submitted').on('input', resolve);
      helper.getNode('gen').receive({ prompt: 'a boat' });
    });
    const { id } = submitted.job as { id: string };
    const { out } = await run({ job: { provider: 'piapi', model: 'Qubico/flux1-schnell', id, status: 'pending', params: {} } });
    assert.equal((out?.job as { status: string }).status, 'completed');
    assert.match(String(out?.payload), /^http:\/\/127\.0\.0\.1:\d+\/files\//);
  });

  it('rides out transient poll failures (503, resets) and still completes', async () => {
    const harness = await loadFlow(['job-poll', 'flux-generate'], poll, {
      extra: [{ id: 'gen', type: 'flux-generate', provider: 'cfg', endpoint: 'jobs', model: 'flux-dev', params: {}, completion: 'job', wires: [['n1']] }],
    });
    harness.sandbox.scriptJobs('pixeldojo', { durationMs: 300 });
    harness.sandbox.injectFault({ api: 'pixeldojo', method: 'GET', path: '/jobs/', fault: { type: 'status', status: 503 }, times: 6 });
    harness.sandbox.injectFault({ api: 'pixeldojo', method: 'GET', path: '/jobs/', fault: { type: 'reset' }, times: 2 });
    const done = new Promise<Record<string, unknown>>((resolve) => helper.getNode('out').on('input', resolve));
    helper.getNode('gen').receive({ prompt: 'p' });
    assert.equal(((await done).job as { status: string }).status, 'completed');
  });

  const endings: Array<[string, 'fail' | 'expire' | 'never', Record<string, unknown>, RegExp]> = [
    ['fails', 'fail', {}, /Sandbox \(test\) job job_\w+ failed: The model failed to generate an image/],
    ['expires (HTTP 410)', 'expire', {}, /job job_\w+ expired before its result was collected/],
    ['never finishes', 'never', { timeout: '700' }, /job job_\w+ did not finish within 1 s\. It may still finish at the provider/],
  ];
  for (const [label, outcome, settings, message] of endings) {
    it(`ends a job that ${label} in a clear error naming its id`, async () => {
      const harness = await loadFlow(
        ['job-poll', 'flux-generate'],
        { ...poll, ...settings },
        {
          extra: [{ id: 'gen', type: 'flux-generate', provider: 'cfg', endpoint: 'jobs', model: 'flux-dev', params: {}, completion: 'job', wires: [['n1']] }],
        },
      );
      harness.sandbox.scriptJobs('pixeldojo', { outcome, durationMs: 200 });
      const caught = new Promise<{ message: string; source: { id: string } }>((resolve) =>
        helper.getNode('caught').on('input', (msg: { error: { message: string; source: { id: string } } }) => resolve(msg.error)),
      );
      helper.getNode('gen').receive({ prompt: 'p' });
      const error = await caught;
      assert.match(error.message, message);
      assert.equal(error.source.id, 'n1');
    });
  }

  const badJobs: Array<[string, unknown, RegExp]> = [
    ['no msg.job', undefined, /msg.job is not a submitted job/],
    ['a job without an id', { provider: 'pixeldojo', model: 'm', status: 'pending', params: {} }, /msg.job.id is missing/],
    [
      'a job of an unknown provider',
      { provider: 'midjourney', model: 'm', id: 'x', status: 'pending', params: {} },
      /msg.job.provider "midjourney" is not a provider this pack speaks/,
    ],
    [
      'a Workers AI job, which finishes at once',
      { provider: 'workers-ai', model: 'm', id: 'x', status: 'completed', params: {} },
      /finish at once; there is nothing to poll/,
    ],
  ];
  for (const [label, job, message] of badJobs) {
    it(`refuses ${label} without polling`, async () => {
      const { run, sandbox } = await loadFlow(['job-poll'], poll);
      assert.match((await run({ job })).error?.message ?? '', message);
      assert.equal(sandbox.requests.length, 0);
    });
  }

  it('refuses a job id the provider does not know, without polling for ten minutes', async () => {
    const { run, sandbox } = await loadFlow(['job-poll'], poll);
    const { error } = await run({ job: { provider: 'pixeldojo', model: 'flux-dev', id: 'job_unknown', status: 'pending', params: {} } });
    assert.match(error?.message ?? '', /HTTP 404 not_found: Job job_unknown not found \(not found: check the model, job id or base URL\)/);
    assert.equal(sandbox.requestsTo('pixeldojo', 'GET').length, 1);
  });

  it('shows its progress in the node status', async () => {
    const harness = await loadFlow(['job-poll', 'flux-generate'], poll, {
      extra: [{ id: 'gen', type: 'flux-generate', provider: 'cfg', endpoint: 'jobs', model: 'flux-dev', params: {}, completion: 'job', wires: [['n1']] }],
    });
    harness.sandbox.scriptJobs('pixeldojo', { durationMs: 600 });
    const statuses: Array<{ text?: string; fill?: string }> = [];
    helper.getNode('n1').on('call:status', (call: { args: Array<{ text?: string; fill?: string }> }) => statuses.push(call.args[0]));
    const done = new Promise((resolve) => helper.getNode('out').on('input', resolve));
    helper.getNode('gen').receive({ prompt: 'p' });
    await done;
    await sleep(10);
    const texts = statuses.map((status) => status.text);
    assert.ok(texts.includes('common.status.pending') || texts.includes('common.status.processing'), texts.join());
    assert.equal(statuses[statuses.length - 1].fill, 'green');
  });

  it('sends nothing after a redeploy during polling, and leaves no timer or socket open', async () => {
    const before = await openHandles();
    const harness = await loadFlow(['job-poll'], poll);
    helper.getNode('n1').receive({ job: { provider: 'pixeldojo', model: 'flux-dev', id: 'job_x', status: 'pending', params: {} } });
    harness.sandbox.injectFault({ api: 'pixeldojo', fault: { type: 'hang' } });
    await sleep(150);
    await helper.unload();
    const polls = harness.sandbox.requests.length;
    await sleep(1000);
    assert.equal(harness.sandbox.requests.length, polls);
    assert.deepEqual(harness.outputs, []);
    assert.deepEqual(harness.errors, []);
    assert.deepEqual(await openHandles(), before);
  });

  for (const id of ['.', '..']) {
    it(`refuses the job id "${id}" before any request: it would send the key to another route`, async () => {
      for (const provider of ['piapi', 'pixeldojo']) {
        const { run, sandbox } = await loadFlow(['job-poll'], poll);
        const { error } = await run({ job: { provider, model: 'm', id, status: 'pending', params: {} } });
        assert.match(error?.message ?? '', /msg\.job\.id: a job id cannot be "\." or "\.\."/);
        assert.equal(sandbox.requests.length, 0);
        await helper.unload();
      }
    });
  }
});
