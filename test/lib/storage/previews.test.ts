import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PreviewStore } from '../../../lib/storage/previews';

describe('lib/storage PreviewStore', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), 'previews-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));
  const src = (n: number) => `data:image/webp;base64,${Buffer.from(`thumbnail ${n}`).toString('base64')}`;

  it("keeps each node's last preview for the next process, in one small file per node", async () => {
    const store = new PreviewStore(path.join(dir, 'previews'));
    await store.set('a1', src(1));
    await store.set('a1', src(2));
    await store.set('b.2/../x', src(3));
    const restarted = new PreviewStore(path.join(dir, 'previews'));
    assert.equal(await restarted.get('a1'), src(2));
    assert.equal(await restarted.get('b.2/../x'), src(3));
    assert.equal(await restarted.get('never'), undefined);
    assert.deepEqual((await readdir(path.join(dir, 'previews'))).sort(), ['a1.txt', 'b_2____x.txt'], 'names stay inside the folder');
  });

  it("forgets a removed node's preview, on disk too", async () => {
    const store = new PreviewStore(path.join(dir, 'previews'));
    await store.set('a1', src(1));
    await store.remove('a1');
    assert.equal(await new PreviewStore(path.join(dir, 'previews')).get('a1'), undefined);
  });

  it('keeps previews in memory only without a user directory', async () => {
    const store = new PreviewStore();
    await store.set('a1', src(1));
    assert.equal(await store.get('a1'), src(1));
    assert.deepEqual(await readdir(dir), []);
  });
});
