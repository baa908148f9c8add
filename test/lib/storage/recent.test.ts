import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { RecentItems } from '../../../lib/storage/recent';

const itemSchema = z.object({ file: z.string(), seed: z.number() });
type Item = z.infer<typeof itemSchema>;

describe('lib/storage recent items: the newest few, kept across a restart in a file that stays small', () => {
  let dir: string;
  let file: string;
  const warnings: string[] = [];
  const recent = (keep = 3) =>
    new RecentItems<Item>(
      keep,
      (item) => item.file,
      itemSchema,
      file,
      (message) => warnings.push(message),
    );
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-recent-'));
    file = path.join(dir, 'recent.jsonl');
    warnings.length = 0;
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps the newest, newest first; an item with a kept key replaces it; a new instance on the same file reads the same list', async () => {
    const items = recent();
    for (const [name, seed] of [
      ['a', 1],
      ['b', 2],
      ['c', 3],
      ['d', 4],
      ['b', 5],
    ] as const)
      await items.add({ file: name, seed });
    const expected = [
      { file: 'b', seed: 5 },
      { file: 'd', seed: 4 },
      { file: 'c', seed: 3 },
    ];
    assert.deepEqual(items.list(), expected);
    const restarted = recent();
    await restarted.load();
    assert.deepEqual(restarted.list(), expected);
    assert.deepEqual(warnings, []);
  });

  it('compacts its file to the items kept, so 1,000 adds leave a file of at most four times as many lines', async () => {
    const items = recent(12);
    for (let index = 0; index < 1_000; index++) await items.add({ file: `image-${index}.png`, seed: index });
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n').length;
    assert.ok(lines <= 4 * 12 + 1, `${lines} lines`);
    const restarted = recent(12);
    await restarted.load();
    assert.deepEqual(
      restarted.list().map((item) => item.seed),
      Array.from({ length: 12 }, (_, index) => 999 - index),
    );
  });

  it('skips a damaged line with a warning and keeps the rest', async () => {
    fs.writeFileSync(file, `${JSON.stringify({ file: 'a', seed: 1 })}\nnot json\n${JSON.stringify({ file: 'b', seed: 2 })}\n`);
    const items = recent();
    await items.load();
    assert.deepEqual(
      items.list().map((item) => item.file),
      ['b', 'a'],
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /record 2 cannot be read/);
  });

  it('without a file, keeps them in memory only', async () => {
    const items = new RecentItems<Item>(
      2,
      (item) => item.file,
      itemSchema,
      undefined,
      () => assert.fail('no warning expected'),
    );
    await items.add({ file: 'a', seed: 1 });
    assert.deepEqual(items.list(), [{ file: 'a', seed: 1 }]);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});
