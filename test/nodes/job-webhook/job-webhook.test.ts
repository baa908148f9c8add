import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { JOURNAL_FILE } from '../../../lib/jobs/journal';
import { webhookSecretHash } from '../../../lib/jobs/webhooks';
import { loadFlow, sleep } from '../../support/flow';
import type { Harness } from '../../support/flow';
import { HOOK_PATH, webhookSuite } from '../../support/webhook-flow';
import type { Served } from '../../support/webhook-flow';
import { freePort, waitFor } from '../../support/net';
import { helper } from '../../support/node-red';
import { journaledJobs } from '../../support/journal';

const piapiTask = { type: 'piapi-task', model: 'Qubico/flux1-schnell', taskType: 'txt2img', prompt: '', params: {}, completion: 'webhook' };
const fluxJob = { type: 'flux-generate', endpoint: 'jobs', model: 'flux-dev', prompt: '', params: {}, completion: 'webhook' };

describe('job-webhook node, and completion by webhook', function () {
  this.timeout(30_000);
  const serveTracked = webhookSuite();

  async function serve(
    underTest: Record<string, unknown>,
    provider: Record<string, unknown> = {},
    types = ['piapi-task'],
    extra: Record<string, unknown>[] = [],
  ): Promise<Served> {
    return serveTracked(underTest, provider, types, extra);
  }

  const post = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
    const answer = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: answer.statusCode, text: await answer.body.text() };
  };
  /** The secret the node gave PiAPI for its one task, read from the sandbox's request log. */
  const piapiSecret = (harness: Harness): { secret: string; endpoint: string } =>
    (harness.sandbox.requestsTo('piapi', 'POST', '/task')[0].body as { config: { webhook_config: { secret: string; endpoint: string } } }).config
      .webhook_config;
  const submits = (harness: Harness) => harness.sandbox.requestsTo('piapi', 'POST', '/task').length;

  interface Parked extends Served {
    secret: string;
    taskId: string;
    /** POSTs a PiAPI webhook for the parked task, with its secret. */
    deliver(task: Record<string, unknown>): Promise<{ status: number; text: string }>;
  }

  /** Serves piapi-task (completion webhook), sends it `msg` for a task that only a webhook or test will finish, and waits for the submit. */
  async function park(msg: Record<string, unknown>, provider: Record<string, unknown> = {}): Promise<Parked> {
    const served = await serve(piapiTask, provider);
    served.harness.sandbox.scriptJobs('piapi', { outcome: 'never' });
    helper.getNode('n1').receive(msg);
    await waitFor(() => submits(served.harness) === 1, 5000, 'the submit');
    const { secret } = piapiSecret(served.harness);
    const taskId = currentTaskId(served.harness);
    const deliver = (task: Record<string, unknown>) =>
      post(`${served.url}${HOOK_PATH}`, { timestamp: 1, data: { task_id: taskId, ...task } }, { 'x-webhook-secret': secret });
    return { ...served, secret, taskId, deliver };
  }

  it('completes the parked message by webhook, with msg.req/msg.res intact, so the original HTTP request is answered', async () => {
    const { harness, url } = await serve(piapiTask);
    harness.sandbox.scriptJobs('piapi', { durationMs: 300 });
    const started = Date.now();
    const answer = await request(`${url}/gen`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'a fox in the snow' });
    const text = await answer.body.text();
    assert.equal(answer.statusCode, 200);
    assert.ok(Date.now() - started < 10_000, 'completed by the webhook, long before the 30 s grace period let polling start');
    const [out] = harness.outputs;
    assert.equal(text, (out.images as Array<{ url: string }>)[0].url);
    assert.ok(out.req && out.res, 'msg.req and msg.res passed through');
    assert.equal((out.job as { status: string }).status, 'completed');
    assert.equal(harness.sandbox.requestsTo('piapi', 'GET').length, 0, 'no poll was needed');
    const { endpoint, secret } = piapiSecret(harness);
    assert.equal(endpoint, `${url}${HOOK_PATH}`);
    assert.ok(secret.length >= 32, 'a long random secret per job');
    assert.equal(submits(harness), 1);
  });

  it('answers a wrong or missing secret with 401 and sends nothing; the right one completes the job', async () => {
    const { harness, url, taskId, deliver } = await park({ prompt: 'a lighthouse', topic: 'kept' });
    const task = { task_id: taskId, status: 'completed', output: { image_url: 'https://example.com/forged.png' } };
    const delivered = { timestamp: 1, data: task };
    assert.equal((await post(`${url}${HOOK_PATH}`, delivered, { 'x-webhook-secret': 'not-the-secret' })).status, 401);
    assert.equal((await post(`${url}${HOOK_PATH}`, delivered)).status, 401);
    assert.equal((await post(`${url}${HOOK_PATH}?token=guess`, { jobId: 'job_1', status: 'completed' })).status, 401);
    await sleep(200);
    assert.equal(harness.outputs.length, 0, 'nothing sent for a wrong secret');
    const answered = await deliver({ status: 'completed', output: { image_url: 'https://example.com/forged.png' } });
    assert.equal(answered.status, 200, answered.text);
    await waitFor(() => harness.outputs.length === 1, 5000, 'the completed message');
    assert.equal(harness.outputs[0].topic, 'kept');
    assert.equal(harness.outputs[0].payload, 'https://example.com/forged.png');
    assert.equal(submits(harness), 1);
  });

  it('sends one message when the provider delivers the same webhook 5 times', async () => {
    const { harness } = await serve(piapiTask);
    harness.sandbox.options.webhookRepeats = 5;
    harness.sandbox.scriptJobs('piapi', { durationMs: 300 });
    const { out } = await harness.run({ prompt: 'five times' });
    assert.ok(out);
    const terminal = () =>
      harness.sandbox.webhooks.filter((delivery) => (delivery.body as { data: { status: string } }).data.status.toLowerCase() === 'completed');
    await waitFor(() => terminal().length === 5 && terminal().every((delivery) => delivery.status !== undefined), 5000, 'all five deliveries');
    await sleep(300);
    assert.deepEqual(
      terminal().map((delivery) => delivery.status),
      [200, 200, 200, 200, 200],
    );
    assert.equal(harness.outputs.length, 1);
    assert.equal(submits(harness), 1);
  });

  it('sends nothing more for a webhook that arrives after polling completed the job', async () => {
    const { harness } = await serve(piapiTask, { webhookGrace: '0' });
    harness.sandbox.options.webhookDelayMs = 3500;
    harness.sandbox.scriptJobs('piapi', { durationMs: 200 });
    const { out } = await harness.run({ prompt: 'poll wins' });
    assert.equal((out?.job as { status: string }).status, 'completed');
    assert.ok(harness.sandbox.requestsTo('piapi', 'GET').length >= 1, 'completed by polling');
    await waitFor(
      () => harness.sandbox.webhooks.length > 0 && harness.sandbox.webhooks.every((delivery) => delivery.status !== undefined),
      8000,
      'the late webhooks',
    );
    await sleep(200);
    assert.ok(
      harness.sandbox.webhooks.every((delivery) => delivery.status === 200),
      'late deliveries are acknowledged, not refused',
    );
    assert.equal(harness.outputs.length, 1);
    assert.equal(submits(harness), 1);
  });

  it('completes by polling after the grace period when no webhook can arrive', async () => {
    const unreachable = await freePort();
    const { harness } = await serve(piapiTask, { webhookBaseUrl: `http://127.0.0.1:${unreachable}`, webhookGrace: '1' });
    harness.sandbox.scriptJobs('piapi', { durationMs: 200 });
    const { out } = await harness.run({ prompt: 'nobody calls back' });
    assert.equal((out?.job as { status: string }).status, 'completed');
    assert.ok(harness.sandbox.webhooks.length > 0 && harness.sandbox.webhooks.every((delivery) => delivery.error), 'every delivery failed');
    assert.equal(harness.outputs.length, 1);
    assert.equal(submits(harness), 1);
  });

  it('lets job-poll take the webhook of a job handed on pending, without polling', async () => {
    const { harness, url } = await serve(
      { ...piapiTask, completion: 'job', wires: [['poll']] },
      {},
      ['piapi-task', 'job-poll'],
      [{ id: 'poll', type: 'job-poll', provider: 'cfg', wires: [['out']] }],
    );
    harness.sandbox.scriptJobs('piapi', { durationMs: 300 });
    const { out } = await harness.run({ prompt: 'handed on', topic: 'kept' });
    assert.equal((out?.job as { status: string }).status, 'completed');
    assert.equal(out?.topic, 'kept');
    assert.equal(piapiSecret(harness).endpoint, `${url}${HOOK_PATH}`, 'a config with a webhook URL asks for callbacks in job mode too');
    assert.equal(harness.sandbox.requestsTo('piapi', 'GET').length, 0, 'job-poll did not need to poll within the grace period');
    assert.equal(submits(harness), 1);
  });

  it('gives PixelDojo a per-job token in webhook_url, keeps it out of msg.job, and completes by its callback', async () => {
    const { harness, url } = await serve(fluxJob, {}, ['flux-generate']);
    harness.sandbox.scriptJobs('pixeldojo', { durationMs: 300 });
    const { out, error } = await harness.run({ prompt: 'a kite', topic: 'kept' });
    assert.equal(error, undefined);
    assert.equal(out?.topic, 'kept');
    const [submit] = harness.sandbox.requestsTo('pixeldojo', 'POST');
    const webhookUrl = new URL((submit.body as { webhook_url: string }).webhook_url);
    assert.equal(`${webhookUrl.origin}${webhookUrl.pathname}`, `${url}${HOOK_PATH}`);
    assert.ok((webhookUrl.searchParams.get('token') ?? '').length >= 32);
    assert.equal(JSON.stringify(out?.job).includes(webhookUrl.searchParams.get('token') as string), false, 'the token is not in msg.job');
    assert.equal(harness.sandbox.requestsTo('pixeldojo', 'GET', '/jobs').length, 0, 'no poll was needed');
    assert.equal(harness.sandbox.requestsTo('pixeldojo', 'POST').length, 1);
    // A late repeat of the delivery is acknowledged and ignored.
    const repeat = await post(webhookUrl.toString(), {
      jobId: (out?.job as { id: string }).id,
      status: 'completed',
      output: { images: ['https://example.com/x.png'] },
    });
    assert.equal(repeat.status, 200);
    await sleep(200);
    assert.equal(harness.outputs.length, 1);
  });

  it('refuses an oversize body with 413 and a malformed one with 400, and the job still completes', async () => {
    const { harness, url, secret, deliver } = await park({ prompt: 'p' }, { webhookGrace: '2' });
    assert.equal((await post(`${url}${HOOK_PATH}`, 'x'.repeat(300 * 1024), { 'x-webhook-secret': secret })).status, 413);
    assert.equal((await post(`${url}${HOOK_PATH}`, '{"timestamp": 1, "data": ', { 'x-webhook-secret': secret })).status, 400);
    assert.equal((await post(`${url}${HOOK_PATH}`, { timestamp: 1, data: { status: 'completed' } }, { 'x-webhook-secret': secret })).status, 400);
    await sleep(100);
    assert.equal(harness.outputs.length, 0);
    assert.equal((await deliver({ status: 'Completed', output: { image_url: 'https://example.com/a.png' } })).status, 200);
    await waitFor(() => harness.outputs.length === 1, 5000, 'the result');
  });

  it('updates status only for progress deliveries, and fails through Catch for a failed job', async () => {
    const { harness, taskId, deliver } = await park({ prompt: 'p' });
    const statuses: string[] = [];
    helper.getNode('n1').on('call:status', (call: { args: Array<{ text?: string }> }) => statuses.push(call.args[0].text ?? ''));
    assert.equal((await deliver({ status: 'processing' })).status, 200);
    await sleep(100);
    assert.equal(harness.outputs.length + harness.errors.length, 0, 'a progress delivery sends nothing');
    assert.ok(
      statuses.some((text) => text.includes('processing')),
      `the status shows the progress: ${statuses.join(' | ')}`,
    );
    await deliver({ status: 'failed', error: { message: 'nsfw filter' } });
    await waitFor(() => harness.errors.length === 1, 5000, 'the failure through Catch');
    assert.match(harness.errors[0]?.message ?? '', new RegExp(`job ${taskId} failed: nsfw filter`));
    assert.equal(harness.outputs.length, 0);
  });

  it('refuses completion "webhook" without a webhook URL or without a job-webhook node, before anything is sent', async () => {
    const { harness } = await serve(piapiTask, { webhookBaseUrl: '' });
    const { error } = await harness.run({ prompt: 'p' });
    assert.match(error?.message ?? '', /needs the provider config's webhook URL/);
    await helper.unload();
    const lonely = await loadFlow(['piapi-task'], piapiTask, { provider: { webhookBaseUrl: 'http://127.0.0.1:1' } });
    const refused = await lonely.run({ prompt: 'p' });
    assert.match(refused.error?.message ?? '', /needs a job-webhook node/);
    assert.equal(submits(harness) + submits(lonely), 0);
  });

  describe('with the pending-job journal (a user directory)', () => {
    let userDir: string;
    beforeEach(() => {
      userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-webhook-'));
      helper.settings({ userDir });
    });
    afterEach(() => {
      helper.settings({ userDir: undefined });
      fs.rmSync(userDir, { recursive: true, force: true });
    });
    const journal = () => {
      const file = path.join(userDir, JOURNAL_FILE);
      return journaledJobs(file);
    };

    it('records the job before its submit leaves, with the digest of its secret and never the secret', async () => {
      const { secret } = await park({ prompt: 'p', topic: 'kept' });
      await waitFor(() => journal()[0]?.job.id, 5000, 'the journal entry');
      const [entry] = journal();
      assert.equal(entry.webhookSecretHash, webhookSecretHash(secret));
      assert.equal(fs.readFileSync(path.join(userDir, JOURNAL_FILE), 'utf8').includes(secret), false);
    });

    it("journals a job handed on to job-poll with its webhook secret's digest, so its webhook completes it after a restart", async () => {
      const { harness } = await serve(
        { ...piapiTask, completion: 'job', wires: [['poll']] },
        {},
        ['piapi-task', 'job-poll'],
        [{ id: 'poll', type: 'job-poll', provider: 'cfg', wires: [['out']] }],
      );
      harness.sandbox.scriptJobs('piapi', { durationMs: 60_000 });
      helper.getNode('n1').receive({ prompt: 'handed on' });
      await waitFor(() => journal().some((entry) => entry.nodeId === 'poll' && entry.job.id), 5000, "job-poll's journal entry");
      const entry = journal().find((candidate) => candidate.nodeId === 'poll');
      assert.equal(entry?.webhookSecretHash, webhookSecretHash(piapiSecret(harness).secret));
    });

    it('answers 409, not 503 with Retry-After, for a valid secret naming another job', async () => {
      const { harness, secret, url } = await park({ prompt: 'p', topic: 'kept' });
      await waitFor(() => journal()[0]?.job.id, 5000, 'the journal entry');
      const other = await post(
        `${url}${HOOK_PATH}`,
        { timestamp: 1, data: { task_id: 'someone-elses-task', status: 'completed', output: { image_url: 'https://example.com/x.png' } } },
        { 'x-webhook-secret': secret },
      );
      assert.equal(other.status, 409, other.text);
      assert.match(other.text, /belongs to another job/);
      await sleep(200);
      assert.equal(harness.outputs.length, 0);
    });

    it('keeps waiting for the webhook across a redeploy, and delivers once', async () => {
      const { harness, deliver } = await park({ prompt: 'p', topic: 'kept' });
      await waitFor(() => journal()[0]?.job.id, 5000, 'the journal entry');
      const flow = harness.flow.map((node) => (node.id === 'n1' ? { ...node, name: 'redeployed' } : node));
      await helper.setFlows(flow, 'nodes');
      await sleep(200);
      const answered = await deliver({ status: 'completed', output: { image_url: 'https://example.com/r.png' } });
      assert.equal(answered.status, 200, answered.text);
      await waitFor(() => harness.outputs.length === 1, 5000, 'the resumed result');
      await sleep(300);
      assert.equal(harness.outputs.length, 1);
      assert.equal(harness.outputs[0].topic, 'kept');
      assert.equal(submits(harness), 1);
      assert.deepEqual(journal(), []);
    });

    it('delivers, through job-webhook, the result of a job whose node was removed, with its original message', async () => {
      const { harness, deliver } = await park({ prompt: 'p', topic: 'orphaned' });
      await waitFor(() => journal()[0]?.job.id, 5000, 'the journal entry');
      await helper.setFlows(
        harness.flow.filter((node) => node.id !== 'n1' && node.id !== 'in'),
        'nodes',
      );
      await waitFor(() => !helper.getNode('n1'), 5000, 'the node to be removed');
      const orphans: Array<Record<string, unknown>> = [];
      helper.getNode('orphans').on('input', (msg: Record<string, unknown>) => orphans.push(msg));
      const answered = await deliver({ status: 'completed', output: { image_url: 'https://example.com/o.png' } });
      assert.equal(answered.status, 200, answered.text);
      await waitFor(() => orphans.length === 1, 5000, 'the orphan result');
      assert.equal(orphans[0].topic, 'orphaned');
      assert.equal(orphans[0].payload, 'https://example.com/o.png');
      await waitFor(() => journal().length === 0, 3000, 'the journal entry to be removed');
      assert.equal((await deliver({ status: 'completed' })).status, 200);
      await sleep(200);
      assert.equal(orphans.length, 1, 'a repeat is ignored');
    });
  });
});

/** The id of the sandbox's latest PiAPI task. */
function currentTaskId(harness: Harness): string {
  const id = harness.sandbox.jobIds('piapi').at(-1);
  assert.ok(id, 'a task was created');
  return id;
}
