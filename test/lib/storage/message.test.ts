import assert from 'node:assert/strict';
import path from 'node:path';
import { saveImageSettingsSchema, saveTargetOf } from '../../../lib/storage/message';

describe('lib/storage saveTargetOf (save-image settings)', () => {
  const userDir = path.resolve('/home/nr/.node-red');
  const targetOf = (settings: Record<string, unknown>) => saveTargetOf(saveImageSettingsSchema.parse(settings), userDir);

  it('fills the defaults for empty settings, and takes 0 as the default size as the editor does', () => {
    assert.deepEqual(targetOf({ directory: '', filename: '', collision: '', maxSize: '' }), {
      baseDir: path.join(userDir, 'images'),
      template: '{date}/{time}-{provider}-{seed}-{index}',
      collision: 'unique',
      maxBytes: 100 * 1024 * 1024,
    });
    assert.equal(targetOf({ maxSize: '0' }).maxBytes, 100 * 1024 * 1024);
    assert.equal(targetOf({ directory: '/srv/images', maxSize: 7 }).baseDir, path.resolve('/srv/images'));
  });

  it('refuses settings it cannot use, naming them, up to 10000 MB', () => {
    assert.equal(targetOf({ maxSize: '10000' }).maxBytes, 10_000 * 1024 * 1024);
    for (const [settings, message] of [
      [{ maxSize: '10001' }, /maxSize/],
      [{ directory: -1 }, /directory/],
      [{ filename: { a: 1 } }, /filename/],
      [{ collision: 'sometimes' }, /collision/],
    ] as const) {
      const parsed = saveImageSettingsSchema.safeParse(settings);
      assert.equal(parsed.success, false);
      assert.match(parsed.error?.issues.map((issue) => issue.path.join('.')).join() ?? '', message);
    }
  });
});
