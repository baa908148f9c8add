import assert from 'node:assert/strict';
import path from 'node:path';
import { SAVE_IMAGE_LIMITS, saveTargetOf } from '../../../lib/storage/message';

describe('lib/storage saveTargetOf (save-image settings)', () => {
  const userDir = path.resolve('/home/nr/.node-red');

  it('fills the defaults for empty settings, and takes 0 as the default size as the editor does', () => {
    assert.deepEqual(saveTargetOf({ directory: '', filename: '', collision: '', maxSize: '' }, userDir), {
      baseDir: path.join(userDir, 'images'),
      template: '{date}/{time}-{provider}-{seed}-{index}',
      collision: 'unique',
      maxBytes: 100 * 1024 * 1024,
    });
    assert.equal(saveTargetOf({ maxSize: '0' }, userDir).maxBytes, 100 * 1024 * 1024);
    assert.equal(saveTargetOf({ directory: '/srv/images', maxSize: 7 }, userDir).baseDir, path.resolve('/srv/images'));
  });

  it('refuses settings it cannot use, naming them, up to the limit the editor also uses', () => {
    assert.equal(saveTargetOf({ maxSize: String(SAVE_IMAGE_LIMITS.maxSizeMb) }, userDir).maxBytes, SAVE_IMAGE_LIMITS.maxSizeMb * 1024 * 1024);
    for (const [settings, message] of [
      [{ maxSize: String(SAVE_IMAGE_LIMITS.maxSizeMb + 1) }, /maxSize/],
      [{ directory: -1 }, /directory/],
      [{ filename: { a: 1 } }, /filename/],
      [{ collision: 'sometimes' }, /collision/],
    ] as const) {
      assert.throws(() => saveTargetOf(settings, userDir), (error: Error) => error.name === 'InvalidRequestError' && message.test(error.message));
    }
  });
});
