import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { AppendLog } from '../../../lib/storage/append-log';

const recordSchema = z.object({ key: z.string(), value: z.number().optional() });
type Entry = z.infer<typeof recordSchema>;

describe('lib/storage AppendLog', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-log-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A key-value state kept by a log of puts (value) and deletes (no value). */
  function store(file: string, minLinesBeforeCompaction = 1024) {
    const state = new Map<string, number>();
    const log = new AppendLog<Entry>(file, recordSchema, {
      warn: (message) => assert.fail(message),
      snapshot: () => [...state].map(([key, value]) => ({ key, value })),
      liveRecords: () => state.size,
      minLinesBeforeCompaction,
    });
    const set = (key: string, value?: number) => {
      if (value === undefined) state.delete(key);
      else state.set(key, value);
      return log.append({ key, value });
    };
    return { state, log, set };
  }

  it('writes the records appended together in one batch, each resolved once on disk', async () => {
    const file = path.join(dir, 'state.jsonl');
    const { set } = store(file);
    const writes: number[] = [];
    await Promise.all(Array.from({ length: 500 }, (_, index) => set(`k${index}`, index).then(() => writes.push(fs.statSync(file).size))));
    // Every append resolved after its own line was on disk.
    assert.equal(fs.readFileSync(file, 'utf8').trimEnd().split('\n').length, 500);
    // Appends made in one tick share writes: far fewer distinct file sizes were seen than appends.
    assert.ok(new Set(writes).size < 50, `${new Set(writes).size} batches for 500 appends`);
  });

  it('compacts when dead records dominate, keeping the file proportional to the live state', async () => {
    const file = path.join(dir, 'state.jsonl');
    const { log, set, state } = store(file, 100);
    for (let round = 0; round < 50; round++) {
      for (let index = 0; index < 10; index++) await set(`k${index}`, round);
    }
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.ok(lines.length <= 110, `${lines.length} lines for ${state.size} live entries after 500 changes`);
    const replayed = new Map<string, number>();
    for (const record of await log.read()) {
      if (record.value === undefined) replayed.delete(record.key);
      else replayed.set(record.key, record.value);
    }
    assert.deepEqual(replayed, state);
  });

  it('rejects the appends of a failed write and writes the next ones', async () => {
    const file = path.join(dir, 'sub', 'state.jsonl');
    const { log, set } = store(file);
    fs.writeFileSync(path.join(dir, 'sub'), 'a file where the folder should be');
    await assert.rejects(set('a', 1));
    fs.rmSync(path.join(dir, 'sub'));
    await set('b', 2);
    assert.deepEqual(await log.read(), [{ key: 'b', value: 2 }]);
  });
});
