import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobJournal, restoreMessage, serialisableMessage } from '../../../lib/jobs/journal';
import type { JournalEntry } from '../../../lib/jobs/journal';

const entry = (jobId: string): JournalEntry => ({
  key: `key-${jobId}`,
  nodeId: 'n1',
  providerId: 'cfg',
  job: { provider: 'pixeldojo', model: 'flux-dev', id: jobId, status: 'pending', params: { prompt: 'p' } },
  msg: { topic: 'kept' },
  submittedAt: new Date().toISOString(),
});

describe('lib/jobs journal', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-journal-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('persists every change, and a new journal on the same file reads it back', async () => {
    const file = path.join(dir, 'jobs.json');
    const journal = new JobJournal(file, () => assert.fail('no warning expected'));
    await Promise.all([journal.add(entry('a')), journal.add(entry('b')), journal.add(entry('c'))]);
    await journal.remove('key-b');
    await journal.update('key-c', { orphanReported: true });
    const reread = new JobJournal(file, () => assert.fail('no warning expected'));
    await reread.load();
    assert.deepEqual(reread.list().map((item) => [item.job.id, item.orphanReported]), [['a', undefined], ['c', true]]);
    assert.deepEqual(fs.readdirSync(dir), ['jobs.json'], 'no temporary file is left');
  });

  it('moves a corrupted journal aside with a warning, and starts empty without failing', async () => {
    const file = path.join(dir, 'jobs.json');
    fs.writeFileSync(file, '{"version": 1, "jobs": [{"jobId": ');
    const warnings: string[] = [];
    const journal = new JobJournal(file, (message) => warnings.push(message));
    await journal.load();
    assert.equal(journal.size, 0);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /could not be read; it was moved to .*jobs\.json\.corrupt-\d+/);
    assert.ok(fs.readdirSync(dir).some((name) => name.startsWith('jobs.json.corrupt-')));
    await journal.add(entry('fresh'));
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).jobs[0].job.id, 'fresh');
  });

  it('keeps what can be written down: no req/res, functions or cycles; Buffers round-trip', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const msg = {
      topic: 't',
      payload: Buffer.from('init image'),
      nested: { list: [1, 'two', null, Buffer.from('x')], when: new Date(0), fn: () => 1 },
      req: { socket: {} },
      res: { send: () => undefined },
      _msgid: 'abc',
      cyclic,
      count: Number.NaN,
    };
    const saved = serialisableMessage(msg);
    assert.deepEqual(JSON.parse(JSON.stringify(saved)), saved, 'plain JSON');
    assert.equal(saved.req, undefined);
    assert.equal(saved.res, undefined);
    assert.equal(saved._msgid, undefined);
    assert.deepEqual(saved.cyclic, { name: 'loop' });
    const restored = restoreMessage(saved);
    assert.deepEqual(restored.payload, Buffer.from('init image'));
    assert.deepEqual((restored.nested as { list: unknown[] }).list, [1, 'two', null, Buffer.from('x')]);
    assert.equal(restored.topic, 't');
  });
});
