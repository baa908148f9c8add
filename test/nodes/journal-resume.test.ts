import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JOURNAL_FILE } from '../../lib/jobs/journal';
import type { JournalEntry } from '../../lib/jobs/journal';
import { loadFlow, sleep } from '../support/flow';
import { helper } from '../support/node-red';
import { waitFor } from '../support/net';
import { journaledJobs, writeJournal } from '../support/journal';

const generate = { type: 'flux-generate', name: 'before', endpoint: 'jobs', model: 'flux-dev', params: {}, completion: 'wait' };

describe('pending-job journal (with a user directory)', function () {
  this.timeout(30_000);
  let userDir: string;
  before(() => helper.startServer());
  after(() => helper.stopServer());
  beforeEach(() => {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-userdir-'));
    helper.settings({ userDir });
  });
  afterEach(async () => {
    await helper.unload();
    helper.settings({ userDir: undefined });
    fs.rmSync(userDir, { recursive: true, force: true });
  });
  /**
   * A full deploy through the helper, which listens for `flows:started` only after the deploy
   * returns and so can miss it ("timeout waiting event"); the test then waits on what it checks.
   */
  const deploy = (flow: Array<Record<string, unknown>>) =>
    helper.setFlows(flow, 'full').catch((error: Error) => {
      if (error.message !== 'timeout waiting event') throw error;
    });
  const journal = () => {
    const file = path.join(userDir, JOURNAL_FILE);
    return journaledJobs(file);
  };

  it('records a job while the node waits for it, and removes it once delivered', async () => {
    const harness = await loadFlow(['flux-generate'], generate);
    harness.sandbox.scriptJobs('pixeldojo', { durationMs: 600 });
    const result = harness.run({ prompt: 'p', topic: 'kept', req: { notSaved: true } });
    await waitFor(() => journal().length === 1 && Boolean(journal()[0].job.id), 3000, 'the journal entry');
    const [recorded] = journal();
    assert.equal(recorded.nodeId, 'n1');
    assert.equal(recorded.msg.topic, 'kept');
    assert.equal(recorded.msg.req, undefined);
    await result;
    assert.deepEqual(journal(), []);
  });

  const resumable = [
    { node: generate, api: 'pixeldojo' as const },
    {
      node: { type: 'flux-generate', name: 'before', endpoint: 'bfl', model: 'flux-2-pro', params: {}, completion: 'wait', download: false },
      api: 'bfl' as const,
    },
    { node: { type: 'leonardo-generate', name: 'before', model: '', params: { num_images: 1 }, completion: 'wait' }, api: 'leonardo' as const },
  ];
  for (const { node, api } of resumable) {
    it(`resumes a ${node.type} job after a redeploy of the node: delivered once, with the original message, and never submitted again`, async () => {
      const harness = await loadFlow([node.type], node);
      harness.sandbox.scriptJobs(api, { durationMs: 2500 });
      helper.getNode('n1').receive({ prompt: 'a harbour', topic: 'kept', payload: 'a harbour' });
      await waitFor(() => journal().length === 1 && Boolean(journal()[0].job.id), 3000, 'the journal entry');
      const flow = [
        { id: 'f1', type: 'tab', label: 'test' },
        { id: 'cfg', type: 'provider-config', name: 'test', kind: 'sandbox' },
        { id: 'n1', z: 'f1', x: 100, y: 100, provider: 'cfg', wires: [['out']], ...node, name: 'after' },
        { id: 'out', z: 'f1', x: 100, y: 100, type: 'helper' },
        { id: 'catch', z: 'f1', x: 100, y: 100, type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
        { id: 'caught', z: 'f1', x: 100, y: 100, type: 'helper' },
      ];
      await helper.setFlows(flow, 'nodes');
      await waitFor(() => harness.outputs.length === 1, 10_000, 'the resumed result');
      await sleep(500);
      assert.equal(harness.outputs.length, 1);
      assert.equal(harness.outputs[0].topic, 'kept');
      assert.equal((harness.outputs[0].job as { status: string }).status, 'completed');
      assert.equal(harness.sandbox.requestsTo(api, 'POST').length, 1);
      assert.deepEqual(journal(), []);
    });
  }

  it('reports a job whose node was removed once, with how to collect it, and keeps it journaled', async () => {
    const harness = await loadFlow(['flux-generate'], generate);
    harness.sandbox.scriptJobs('pixeldojo', { outcome: 'never' });
    helper.getNode('n1').receive({ prompt: 'p' });
    await waitFor(() => journal().length === 1 && Boolean(journal()[0].job.id), 3000, 'the journal entry');
    const jobId = journal()[0].job.id as string;
    const withoutNode = [
      { id: 'f1', type: 'tab', label: 'test' },
      { id: 'cfg', type: 'provider-config', name: 'test', kind: 'sandbox' },
    ];
    const reports = () =>
      helper.log().args.filter((args) => {
        const entry = args[0] as { msg?: unknown };
        return typeof entry.msg === 'string' && entry.msg.includes(jobId);
      });
    await deploy(withoutNode);
    await waitFor(() => reports().length === 1, 3000, 'the report');
    assert.match(
      String((reports()[0][0] as { msg: string }).msg),
      /which no longer exists.*send msg.job = \{"provider":"pixeldojo","model":"flux-dev","id":"\w+","status":"pending","params":\{\}\} to a job-poll node/,
    );
    await deploy([...withoutNode, { id: 'c2', type: 'comment', z: 'f1', x: 1, y: 1 }]);
    await sleep(300);
    assert.equal(reports().length, 1, 'reported once, not on every deploy');
    assert.equal(journal().length, 1, 'not silently dropped');
  });

  it('removes a job that failed, after reporting it through Catch', async () => {
    const harness = await loadFlow(['flux-generate'], generate);
    harness.sandbox.scriptJobs('pixeldojo', { outcome: 'fail', durationMs: 300 });
    assert.match((await harness.run({ prompt: 'p' })).error?.message ?? '', /failed/);
    assert.deepEqual(journal(), []);
  });

  it('reports through Catch a job whose submit was cut off by a restart, and sends nothing again', async () => {
    const entry: JournalEntry = {
      key: 'k1',
      nodeId: 'n1',
      providerId: 'cfg',
      job: { provider: 'pixeldojo', model: 'flux-dev', status: 'pending', params: { prompt: 'p' } },
      msg: { topic: 'cut off' },
      submittedAt: new Date().toISOString(),
    };
    writeJournal(path.join(userDir, JOURNAL_FILE), [entry]);
    const harness = await loadFlow(['flux-generate'], generate);
    await waitFor(() => harness.errors.length === 1, 5000, 'the report');
    assert.match(harness.errors[0]?.message ?? '', /Node-RED stopped while this pixeldojo job was being submitted.*may exist and be billed/);
    assert.equal(harness.sandbox.requestsTo('pixeldojo', 'POST').length, 0);
    await waitFor(() => journal().length === 0, 3000, 'the entry to be removed');
  });
});
