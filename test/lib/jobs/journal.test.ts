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
    const file = path.join(dir, 'jobs.jsonl');
    const journal = new JobJournal(file, () => assert.fail('no warning expected'));
    await Promise.all([journal.add(entry('a')), journal.add(entry('b')), journal.add(entry('c'))]);
    await journal.remove('key-b');
    await journal.update('key-c', { orphanReported: true });
    const reread = new JobJournal(file, () => assert.fail('no warning expected'));
    await reread.load();
    assert.deepEqual(
      reread.list().map((item) => [item.job.id, item.orphanReported]),
      [
        ['a', undefined],
        ['c', true],
      ],
    );
    assert.deepEqual(fs.readdirSync(dir), ['jobs.jsonl'], 'no temporary file is left');
  });

  it('writes one line per change, and a large Buffer once, beside the journal, removed with its last entry', async () => {
    const file = path.join(dir, 'jobs.jsonl');
    const journal = new JobJournal(file, () => assert.fail('no warning expected'));
    const image = Buffer.alloc(1024 * 1024, 7);
    const big = (id: string) => ({ ...entry(id), msg: serialisableMessage({ payload: image, topic: id }) });
    await journal.add(big('big'));
    await journal.add(big('same-image'));
    await Promise.all(['x', 'y', 'z'].map((id) => journal.add(entry(id))));
    await journal.update('key-big', { orphanReported: true });
    await journal.remove('key-x');
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 7);
    assert.ok(fs.statSync(file).size < 4096, `the log holds ${fs.statSync(file).size} bytes`);
    assert.deepEqual(fs.readdirSync(journal.blobDir).length, 1, 'the image is stored once for both jobs');
    const reread = new JobJournal(file, () => assert.fail('no warning expected'));
    await reread.load();
    const restored = reread.restore(reread.list().find((item) => item.key === 'key-big') as JournalEntry);
    assert.deepEqual(restored.payload, image);
    assert.equal(restored.topic, 'big');
    await reread.remove('key-big');
    await reread.blobsSettled();
    assert.equal(fs.readdirSync(journal.blobDir).length, 1, 'kept while another job refers to it');
    await reread.remove('key-same-image');
    await reread.blobsSettled();
    assert.equal(fs.readdirSync(journal.blobDir).length, 0, 'removed with the last job that refers to it');
  });

  it('collects a blob left without its record by a crash, at the next start', async () => {
    const file = path.join(dir, 'jobs.jsonl');
    const journal = new JobJournal(file, () => undefined);
    await journal.add(entry('a'));
    fs.mkdirSync(journal.blobDir, { recursive: true });
    fs.writeFileSync(path.join(journal.blobDir, 'f'.repeat(64)), 'orphan');
    const reread = new JobJournal(file, () => undefined);
    await reread.load();
    assert.deepEqual(fs.readdirSync(journal.blobDir), []);
  });

  it('skips a torn last record with a warning, resumes every earlier entry, and appends after it cleanly', async () => {
    const file = path.join(dir, 'jobs.jsonl');
    const journal = new JobJournal(file, () => assert.fail('no warning expected'));
    for (const id of ['a', 'b', 'c']) await journal.add(entry(id));
    // Node-RED stopped in the middle of writing a fourth record.
    fs.appendFileSync(file, JSON.stringify({ put: entry('d') }).slice(0, 40));
    const warnings: string[] = [];
    const reread = new JobJournal(file, (message) => warnings.push(message));
    await reread.load();
    assert.deepEqual(
      reread.list().map((item) => item.job.id),
      ['a', 'b', 'c'],
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /last record was cut short .* and was skipped/);
    await reread.add(entry('e'));
    const third = new JobJournal(file, () => assert.fail('no warning expected after the torn record was written over'));
    await third.load();
    assert.deepEqual(
      third.list().map((item) => item.job.id),
      ['a', 'b', 'c', 'e'],
    );
  });

  it('finds a job by its webhook secret digest, as it changes', async () => {
    const journal = new JobJournal(path.join(dir, 'jobs.jsonl'), () => undefined);
    await journal.add({ ...entry('a'), webhookSecretHash: 'h-a' });
    assert.equal(journal.bySecret('h-a')?.job.id, 'a');
    await journal.remove('key-a');
    assert.equal(journal.bySecret('h-a'), undefined);
  });

  it('answers the entries waiting longest, in the order they were journaled, a change keeping an entry in its place, and after a restart', async () => {
    const file = path.join(dir, 'jobs.jsonl');
    const journal = new JobJournal(file, () => assert.fail('no warning expected'));
    for (const id of ['a', 'b', 'c', 'd']) await journal.add(entry(id));
    await journal.update('key-a', { job: { ...entry('a').job, status: 'processing' } });
    await journal.remove('key-b');
    assert.deepEqual(
      journal.oldest(2).map((item) => [item.job.id, item.job.status]),
      [
        ['a', 'processing'],
        ['c', 'pending'],
      ],
    );
    assert.deepEqual(
      journal.oldest(10).map((item) => item.job.id),
      ['a', 'c', 'd'],
    );
    const reread = new JobJournal(file, () => assert.fail('no warning expected'));
    await reread.load();
    assert.deepEqual(
      reread.oldest(2).map((item) => item.job.id),
      ['a', 'c'],
    );
  });

  it('carries over a journal in the earlier single-document format, then removes it', async () => {
    fs.writeFileSync(path.join(dir, 'image-gen-jobs.json'), JSON.stringify({ version: 1, jobs: [entry('old')] }));
    const journal = new JobJournal(path.join(dir, 'image-gen-jobs.jsonl'), () => assert.fail('no warning expected'));
    await journal.load();
    assert.deepEqual(
      journal.list().map((item) => item.job.id),
      ['old'],
    );
    assert.deepEqual(fs.readdirSync(dir), ['image-gen-jobs.jsonl']);
    const reread = new JobJournal(path.join(dir, 'image-gen-jobs.jsonl'), () => undefined);
    await reread.load();
    assert.equal(reread.size, 1);
  });

  it('moves a corrupted journal in the earlier format aside with a warning, and starts empty without failing', async () => {
    fs.writeFileSync(path.join(dir, 'image-gen-jobs.json'), '{"version": 1, "jobs": [{"jobId": ');
    const warnings: string[] = [];
    const journal = new JobJournal(path.join(dir, 'image-gen-jobs.jsonl'), (message) => warnings.push(message));
    await journal.load();
    assert.equal(journal.size, 0);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /could not be read; it was moved to .*image-gen-jobs\.json\.corrupt-\d+/);
    await journal.add(entry('fresh'));
    assert.equal(journal.size, 1);
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
