import assert from 'node:assert/strict';
import path from 'node:path';
import { InvalidRequestError } from '../../../lib/contract';
import { DEFAULT_FILENAME_TEMPLATE, checkRelativePath, expandTemplate, isInside, resolveInside, slug } from '../../../lib/storage/paths';

const tokens = {
  date: new Date(2026, 10, 20, 9, 5, 7),
  provider: 'piapi',
  model: 'Qubico/flux1-schnell',
  jobId: 'job_AB/../x',
  seed: 42,
  index: 1,
  prompt: 'A Red Fox — in the snow!',
};

describe('lib/storage paths', () => {
  it('expands every token into a safe value', () => {
    assert.equal(expandTemplate(DEFAULT_FILENAME_TEMPLATE, tokens), '2026-11-20/090507-piapi-42-1');
    assert.equal(
      expandTemplate('{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{model}-{jobId}-{prompt}', tokens),
      '2026/11/20/090507-qubico-flux1-schnell-job-ab-x-a-red-fox-in-the-snow',
    );
    assert.equal(expandTemplate('{seed}-{provider}', { date: tokens.date, index: 0 }), 'noseed-unknown');
  });

  it('refuses an unknown token instead of writing it literally', () => {
    assert.throws(() => expandTemplate('{date}-{colour}', tokens), /unknown token \{colour\}/);
  });

  it('slugs any text to lower-case letters, digits and dashes', () => {
    assert.equal(slug('Ünïcödé café / ../../etc'), 'unicode-cafe-etc');
    assert.equal(slug('////'), 'none');
    assert.equal(slug('x'.repeat(100), 10), 'xxxxxxxxxx');
  });

  for (const [label, attempt] of [
    ['a parent segment', '../outside'],
    ['a parent segment in the middle', 'a/../../b'],
    ['an absolute path', '/etc/passwd'],
    ['a NUL byte', 'image\u0000.png'],
    ['a control character', 'image\n.png'],
    ['a backslash', '..\\..\\windows'],
    ['a drive letter', 'C:evil'],
    ['a device name', 'sub/NUL'],
    ['a device name with an extension', 'con.txt'],
    ['an empty segment', 'a//b'],
    ['a trailing dot', 'name.'],
    ['nothing at all', ''],
  ] as const) {
    it(`refuses ${label}`, () => {
      assert.throws(
        () => checkRelativePath(attempt),
        (error: Error) => error instanceof InvalidRequestError && /refused file name/.test(error.message),
      );
    });
  }

  it('resolves inside the base directory only', () => {
    const base = path.resolve('/srv/images');
    assert.equal(resolveInside(base, '2026/a'), path.join(base, '2026', 'a'));
    assert.throws(() => resolveInside(base, '../images-other/a'), /refused file name/);
    // The file system's root is a directory like any other (a save-image directory of "/").
    assert.equal(resolveInside('/', 'srv/a'), path.join('/', 'srv', 'a'));
  });

  it('tells inside from outside by path, not by text prefix', () => {
    assert.equal(isInside('/srv/images', '/srv/images/a/b'), true);
    assert.equal(isInside('/srv/images', '/srv/images-other/a'), false);
    assert.equal(isInside('/srv/images', '/srv/images'), false);
    assert.equal(isInside('/srv/images', '/srv'), false);
    assert.equal(isInside('/', '/etc/x'), true);
    assert.equal(isInside('/srv/images', '/srv/images/..a'), true, 'a name that starts with two dots is still inside');
  });
});
