import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HttpClient } from '../../../lib/http';
import { renderJpeg, renderPng, startSandbox } from '../../../lib/sandbox';
import type { SandboxServer } from '../../../lib/sandbox';
import { listGallery } from '../../../lib/storage/gallery';
import { readPngText } from '../../../lib/storage/png-text';
import { saveMessageImages } from '../../../lib/storage/message';
import { saveImage } from '../../../lib/storage/save';
import type { SaveTarget } from '../../../lib/storage/save';
import { rejectionOf, waitFor } from '../../support/net';

/** Every file under a directory, relative, so a test can prove nothing partial was left. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

describe('lib/storage saveImage', () => {
  let dir: string;
  let sandbox: SandboxServer;
  let client: HttpClient;
  const target = (overrides: Partial<SaveTarget> = {}): SaveTarget => ({
    baseDir: dir,
    template: '{seed}-{index}',
    collision: 'unique',
    maxBytes: 10 * 1024 * 1024,
    ...overrides,
  });
  const tokens = { date: new Date(), provider: 'pixeldojo', model: 'flux-pro', seed: 42, index: 0 };
  const meta = { prompt: 'a red fox', seed: 42, model: 'flux-pro', provider: 'pixeldojo', params: { prompt: 'a red fox', seed: 42 } };

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-save-'));
    sandbox = await startSandbox();
    client = new HttpClient({ provider: 'image download', baseUrl: 'http://localhost', timeoutMs: 2000, retry: { maxRetries: 0 } });
  });
  afterEach(async () => {
    await client.close();
    await sandbox.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('saves a PNG buffer with the parameters text, a sidecar and a gallery entry; sha256 is of the stored file', async () => {
    const png = renderPng({ width: 32, height: 24, seed: 42 });
    const saved = await saveImage(target(), { data: png }, meta, tokens, client);
    assert.equal(saved.path, path.join(dir, '42-0.png'));
    const stored = fs.readFileSync(saved.path);
    assert.equal(saved.sha256, createHash('sha256').update(stored).digest('hex'));
    assert.equal(saved.bytes, stored.length);
    assert.deepEqual([saved.mimeType, saved.width, saved.height], ['image/png', 32, 24]);
    assert.equal(readPngText(stored).parameters, 'a red fox\nSeed: 42, Size: 32x24, Model: flux-pro');
    const textChunkLength = stored.length - png.length;
    assert.deepEqual(Buffer.concat([stored.subarray(0, 33), stored.subarray(33 + textChunkLength)]), png, 'the image bytes are untouched');
    const sidecar = JSON.parse(fs.readFileSync(`${saved.path}.json`, 'utf8')) as Record<string, unknown>;
    assert.deepEqual([sidecar.prompt, sidecar.seed, sidecar.model, sidecar.sha256], ['a red fox', 42, 'flux-pro', saved.sha256]);
    const gallery = await listGallery(dir, { limit: 10, offset: 0 });
    assert.deepEqual(
      gallery.images.map((entry) => entry.path),
      ['42-0.png'],
    );
  });

  it('downloads a URL to disk, keeping JPEG bytes exactly', async () => {
    const url = sandbox.fileUrl({ seed: 5, width: 40, height: 16, format: 'jpg', tag: 'x' });
    const saved = await saveImage(target(), { url }, meta, tokens, client);
    assert.equal(path.extname(saved.path), '.jpg');
    assert.deepEqual(fs.readFileSync(saved.path), renderJpeg({ width: 40, height: 16, seed: 5, prompt: 'x' }));
    assert.equal(JSON.parse(fs.readFileSync(`${saved.path}.json`, 'utf8')).sourceUrl, url);
  });

  it('follows the collision policy: unique numbers, overwrite replaces, skip keeps the first', async () => {
    const first = renderPng({ width: 8, height: 8, seed: 1 });
    const second = renderPng({ width: 8, height: 8, seed: 2 });
    const a = await saveImage(target(), { data: first }, {}, tokens, client);
    const b = await saveImage(target(), { data: second }, {}, tokens, client);
    assert.deepEqual([path.basename(a.path), path.basename(b.path)], ['42-0.png', '42-0-1.png']);
    const skipped = await saveImage(target({ collision: 'skip' }), { data: second }, {}, tokens, client);
    assert.equal(skipped.skipped, true);
    assert.equal(skipped.path, a.path);
    assert.equal(fs.readFileSync(a.path).readUInt32BE(16), 8);
    assert.equal(readPngText(fs.readFileSync(a.path)).parameters, 'Size: 8x8');
    const overwritten = await saveImage(target({ collision: 'overwrite' }), { data: second }, { prompt: 'second' }, tokens, client);
    assert.equal(overwritten.path, a.path);
    assert.equal(readPngText(fs.readFileSync(a.path)).parameters, 'second\nSize: 8x8');
    assert.deepEqual(
      filesUnder(dir).filter((file) => file.endsWith('.png')),
      ['42-0-1.png', '42-0.png'],
    );
  });

  for (const [label, url, message] of [
    ['a body that is not an image', '/files/page.html', /is not a PNG, JPEG or WebP image/],
    ['an oversize body', '/files/large-12000000.png', /larger than the 10485760-byte limit/],
    ['an expired URL (404)', '/files/expired.png', /is gone \(HTTP 404\): provider URLs expire/],
    ['a dropped connection', '/files/dropped-4000000.png', /broke off after \d+ bytes .*nothing was saved/],
  ] as const) {
    it(`refuses ${label}, leaving no partial file`, async () => {
      const error = await rejectionOf(saveImage(target(), { url: `${sandbox.origin}${url}` }, meta, tokens, client));
      assert.match(error.message, message);
      assert.deepEqual(filesUnder(dir), []);
    });
  }

  for (const template of ['escape/{seed}', 'escape/new/deeper/{seed}']) {
    it(`refuses a folder link that leads outside the base directory (${template}), making nothing outside`, async () => {
      const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-outside-'));
      fs.symlinkSync(outside, path.join(dir, 'escape'));
      try {
        const error = await rejectionOf(saveImage(target({ template }), { data: renderPng({ width: 4, height: 4, seed: 1 }) }, {}, tokens, client));
        assert.match(error.message, /leads outside .* through a link/);
        assert.deepEqual(fs.readdirSync(outside), [], 'no file or folder was made outside');
      } finally {
        fs.rmSync(outside, { recursive: true, force: true });
      }
    });
  }

  it('writes no gallery line through a link planted in place of the index', async () => {
    const outside = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-outside-')), 'victim.txt');
    fs.writeFileSync(outside, 'untouched');
    fs.symlinkSync(outside, path.join(dir, '.gallery.jsonl'));
    try {
      const error = await rejectionOf(saveImage(target(), { data: renderPng({ width: 4, height: 4, seed: 1 }) }, meta, tokens, client));
      assert.match(error.message, /\.gallery\.jsonl .* is a link/);
      assert.equal(fs.readFileSync(outside, 'utf8'), 'untouched');
    } finally {
      fs.rmSync(path.dirname(outside), { recursive: true, force: true });
    }
  });

  it('takes the file back out when its folder is swapped for a link while the image downloads', async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-outside-'));
    fs.mkdirSync(path.join(dir, 'day'));
    sandbox.injectFault({ api: 'files', fault: { type: 'latency', ms: 300 } });
    try {
      const saving = rejectionOf(saveImage(target({ template: 'day/{seed}' }), { url: `${sandbox.origin}/files/t-1-8x8.png` }, meta, tokens, client));
      // The folders are checked before the download starts; swap one while the provider is answering.
      await waitFor(() => sandbox.requestsTo('files').length === 1, 5000, 'the download to start');
      fs.renameSync(path.join(dir, 'day'), path.join(dir, 'day-before'));
      fs.symlinkSync(outside, path.join(dir, 'day'));
      const error = await saving;
      assert.match(error.message, /leads outside .* through a link/);
      assert.deepEqual(fs.readdirSync(outside), [], 'nothing was left outside');
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('gives up saving a body dripped a byte at a time at the message deadline, keeping nothing of it', async () => {
    const error = await rejectionOf(saveMessageImages(target(), { payload: `${sandbox.origin}/files/drip-20.png` }, client, undefined, 600));
    assert.match(error.message, /not saved within 0\.6 s: .*drip-20\.png came too slowly, and nothing of it was kept/);
    assert.deepEqual(filesUnder(dir), []);
  });

  it('lists the gallery newest first, with limit, offset and a model filter; torn lines are skipped', async () => {
    for (const [index, model] of ['flux-pro', 'flux-dev', 'flux-pro'].entries()) {
      await saveImage(target(), { data: renderPng({ width: 4, height: 4, seed: index }) }, { model }, { ...tokens, index }, client);
    }
    fs.appendFileSync(path.join(dir, '.gallery.jsonl'), '{"path": "torn\n');
    const all = await listGallery(dir, { limit: 10, offset: 0 });
    assert.equal(all.total, 3);
    assert.deepEqual(
      all.images.map((entry) => entry.path),
      ['42-2.png', '42-1.png', '42-0.png'],
    );
    assert.deepEqual(
      (await listGallery(dir, { limit: 1, offset: 1 })).images.map((entry) => entry.path),
      ['42-1.png'],
    );
    assert.deepEqual(
      (await listGallery(dir, { limit: 10, offset: 0, model: 'flux-pro' })).images.map((entry) => entry.path),
      ['42-2.png', '42-0.png'],
    );
  });
});
