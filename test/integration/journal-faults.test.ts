import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JOURNAL_FILE } from '../../lib/jobs/journal';
import type { JournalEntry } from '../../lib/jobs/journal';
import { waitFor } from '../support/net';
import { catchAll, injectNode, logDebug, onTab, startRuntime } from '../support/runtime';
import type { Runtime } from '../support/runtime';
import { journaledJobs, writeJournal } from '../support/journal';

/** A job-poll with a journaled job, deployed with a setting its editor accepts but the runtime refuses. */
function flowWithJobPoll(setting: Record<string, string>): unknown[] {
  return [
    { id: 'tab', type: 'tab', label: 'journal faults' },
    { id: 'cfg', type: 'provider-config', name: 'sandbox', kind: 'sandbox' },
    {
      id: 'poll',
      type: 'job-poll',
      z: 'tab',
      x: 300,
      y: 100,
      provider: 'cfg',
      initialDelay: '',
      maxDelay: '',
      timeout: '',
      download: false,
      ...setting,
      wires: [['ok']],
    },
    ...onTab('tab', [
      logDebug('ok', 'resumed'),
      catchAll('c', 'bad'),
      logDebug('bad', 'caught', 'error'),
      injectNode('go', 'a cat', ['wa']),
      { id: 'wa', type: 'workers-ai', provider: 'cfg', endpoint: 'worker', model: '', prompt: '', params: {}, wires: [['made']] },
      logDebug('made', 'still working', 'job'),
    ]),
  ];
}

const journaledJob: JournalEntry = {
  key: 'k-1',
  nodeId: 'poll',
  providerId: 'cfg',
  job: { provider: 'piapi', model: 'Qubico/flux1-schnell', id: 'task-left-from-yesterday', status: 'pending', params: {} },
  msg: { topic: 'nightly batch', payload: 'a lighthouse' },
  submittedAt: '2026-12-02T23:00:00.000Z',
};

describe('a real Node-RED with a troubled pending-job journal keeps running, across restarts', function () {
  this.timeout(120_000);
  let runtime: Runtime | undefined;
  let userDir: string;
  beforeEach(() => {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-journal-'));
  });
  afterEach(async () => {
    await runtime?.stop();
    runtime = undefined;
  });

  const refused: Array<Record<string, string>> = [{ timeout: '100000000' }, { initialDelay: '0' }];
  for (const setting of refused) {
    it(`resumes a journaled job into job-poll with ${JSON.stringify(setting)}: the error goes through Catch, twice over a restart`, async () => {
      fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flowWithJobPoll(setting)));
      writeJournal(path.join(userDir, JOURNAL_FILE), [journaledJob]);
      for (const start of ['first start', 'restart']) {
        runtime = await startRuntime('', userDir);
        await waitFor(() => runtime?.log().includes('[debug:caught]'), 20_000, `the resumed job's error after the ${start}`);
        assert.match(runtime.log(), /job-poll.s settings cannot be used: (timeout|initialDelay): must be 1 to 86400000/);
        // Node-RED is still up and its flows still work.
        const logStart = runtime.log().length;
        await runtime.press('go');
        await waitFor(() => runtime?.log().slice(logStart).includes('[debug:still working]'), 20_000, 'a generation after the error');
        await runtime.stop({ keepUserDir: true });
        runtime = undefined;
      }
      // The paid job is not dropped: it waits in the journal for a setting that works.
      assert.equal(journaledJobs(path.join(userDir, JOURNAL_FILE)).length, 1);
    });
  }

  it('starts with a journal it cannot read, says so, and keeps running flows', async () => {
    fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flowWithJobPoll({})));
    fs.mkdirSync(path.join(userDir, JOURNAL_FILE));
    runtime = await startRuntime('', userDir);
    await waitFor(() => runtime?.log().includes('cannot be read'), 20_000, 'the warning');
    assert.match(runtime.log(), /\[warn\].*pending-job journal .* cannot be read \(EISDIR\)/);
    const logStart = runtime.log().length;
    await runtime.press('go');
    await waitFor(() => runtime?.log().slice(logStart).includes('[debug:still working]'), 20_000, 'a generation');
  });
});
