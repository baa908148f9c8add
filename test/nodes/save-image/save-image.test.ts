import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderPng } from '../../../lib/sandbox';
import { readPngText } from '../../../lib/storage/png-text';
import { loadFlow } from '../../support/flow';
import type { Msg } from '../../support/flow';
import { helper } from '../../support/node-red';

interface SavedFile {
  path: string;
  bytes: number;
  mimeType: string;
  sha256: string;
  width: number;
  height: number;
  skipped?: boolean;
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

describe('save-image node', function () {
  this.timeout(60_000);
  let root: string;
  let dir: string;
  const node = (overrides: Record<string, unknown> = {}) => ({
    type: 'save-image',
    directory: dir,
    filename: '{provider}-{seed}-{index}',
    collision: 'unique',
    preview: true,
    maxSize: '10',
    ...overrides,
  });
  before(() => helper.startServer());
  after(() => helper.stopServer());
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-node-'));
    dir = path.join(root, 'images');
  });
  afterEach(async () => {
    await helper.unload();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('saves what flux-generate made, URLs and all, with the prompt and seed in the PNG and sha256 of the stored bytes', async () => {
    const harness = await loadFlow(['save-image', 'flux-generate'], node(), {
      extra: [
        {
          id: 'gen',
          type: 'flux-generate',
          provider: 'cfg',
          endpoint: 'flux',
          model: 'flux-pro',
          params: { num_outputs: 2, seed: 7 },
          completion: 'wait',
          wires: [['n1']],
        },
      ],
    });
    const done = new Promise<Msg>((resolve) => helper.getNode('out').on('input', resolve));
    helper.getNode('gen').receive({ prompt: 'a red fox in the snow', topic: 'kept' });
    const out = await done;
    const files = out.files as SavedFile[];
    assert.deepEqual(
      files.map((file) => path.basename(file.path)),
      ['pixeldojo-7-0.png', 'pixeldojo-8-1.png'],
    );
    assert.equal(out.topic, 'kept');
    for (const file of files) {
      const stored = fs.readFileSync(file.path);
      assert.equal(file.sha256, createHash('sha256').update(stored).digest('hex'));
      assert.deepEqual([file.mimeType, file.width, file.height, file.bytes], ['image/png', 1024, 1024, stored.length]);
    }
    assert.equal(readPngText(fs.readFileSync(files[0].path)).parameters, 'a red fox in the snow\nSeed: 7, Size: 1024x1024, Model: flux-pro');
    const sidecar = JSON.parse(fs.readFileSync(`${files[1].path}.json`, 'utf8')) as Record<string, unknown>;
    assert.deepEqual([sidecar.prompt, sidecar.seed, sidecar.provider, sidecar.model], ['a red fox in the snow', 8, 'pixeldojo', 'flux-pro']);
    assert.deepEqual(sidecar.cost, { credits: 2 });
    assert.match(String(sidecar.sourceUrl), /^http:\/\/127\.0\.0\.1:\d+\/files\//);
    assert.equal(harness.sandbox.requestsTo('files').length, 2);
  });

  it('saves a Buffer, a URL string or an array of them from msg.payload', async () => {
    const { run, sandbox } = await loadFlow(['save-image'], node({ filename: 'p-{index}' }));
    const png = renderPng({ width: 10, height: 10, seed: 1 });
    const url = sandbox.fileUrl({ seed: 2, width: 12, height: 12, format: 'jpg', tag: 't' });
    const { out } = await run({ payload: [png, url] });
    assert.deepEqual(
      (out?.files as SavedFile[]).map((file) => [path.basename(file.path), file.width]),
      [
        ['p-0.png', 10],
        ['p-1.jpg', 12],
      ],
    );
    assert.match(
      (await run({ payload: 42 })).error?.message ?? '',
      /nothing to save: msg.images, or msg.payload as an image Buffer, a URL or an array of them, not a number/,
    );
  });

  const escapes: Array<[string, Record<string, unknown>, Msg]> = [
    ['a template with ..', { filename: '../{seed}' }, {}],
    ['a template with an absolute path', { filename: '/tmp/{seed}' }, {}],
    ['msg.filename with ..', {}, { filename: '../../etc/evil' }],
    ['msg.filename with an absolute path', {}, { filename: '/etc/evil' }],
    ['msg.filename with a NUL byte', {}, { filename: 'ok\u0000/../../evil' }],
    ['msg.filename with a device name', {}, { filename: 'sub/CON' }],
    ['msg.filename with backslashes', {}, { filename: '..\\..\\evil' }],
    ['msg.filename that is not a string', {}, { filename: { path: '../x' } }],
  ];
  for (const [label, settings, msg] of escapes) {
    it(`refuses ${label}, writing nothing anywhere`, async () => {
      const { run } = await loadFlow(['save-image'], node(settings));
      const { error } = await run({ payload: renderPng({ width: 4, height: 4, seed: 1 }), ...msg });
      assert.match(error?.message ?? '', /refused file name|msg.filename must be/);
      assert.deepEqual(filesUnder(root), []);
    });
  }

  for (const [label, url, settings, message] of [
    ['a non-image', '/files/page.html', {}, /is not a PNG, JPEG or WebP image/],
    ['an oversize body', '/files/large-3000000.png', { maxSize: '2' }, /larger than the 2097152-byte limit/],
    ['a 404', '/files/expired.png', {}, /is gone \(HTTP 404\): provider URLs expire/],
    [
      'a dropped connection',
      '/files/dropped-3000000.png',
      {},
      /the download of .*dropped-3000000.png broke off after \d+ bytes \(other side closed\); nothing was saved/,
    ],
  ] as const) {
    it(`ends ${label} in a clear error through Catch, leaving no partial file`, async () => {
      const { run, sandbox } = await loadFlow(['save-image'], node(settings));
      const { error } = await run({ payload: `${sandbox.origin}${url}` });
      assert.match(error?.message ?? '', message);
      assert.deepEqual(filesUnder(root), []);
    });
  }

  it('follows the collision policy from the node', async () => {
    for (const [collision, expected] of [
      ['unique', ['same-1.png', 'same.png']],
      ['overwrite', ['same.png']],
      ['skip', ['same.png']],
    ] as const) {
      const { run } = await loadFlow(['save-image'], node({ filename: 'same', collision, directory: path.join(dir, collision) }));
      await run({ payload: renderPng({ width: 4, height: 4, seed: 1 }) });
      const { out } = await run({ payload: renderPng({ width: 6, height: 6, seed: 2 }) });
      assert.deepEqual(
        filesUnder(path.join(dir, collision)).filter((file) => file.endsWith('.png')),
        expected,
      );
      assert.equal((out?.files as SavedFile[])[0].skipped, collision === 'skip' ? true : undefined);
      await helper.unload();
    }
  });

  it("publishes a thumbnail on the pack's own comms topic, and keeps the last one for the editor", async () => {
    const published: Array<{ topic: string; data: unknown }> = [];
    const listener = (event: { topic: string; data: unknown }) => published.push(event);
    helper._events.on('comms', listener);
    try {
      const { run } = await loadFlow(['save-image'], node());
      await run({ payload: renderPng({ width: 300, height: 200, seed: 1 }) });
      const previews = published.filter((event) => event.topic.startsWith('image-gen/preview/'));
      assert.deepEqual(
        previews.map((event) => event.topic),
        ['image-gen/preview/n1'],
      );
      assert.equal(published.filter((event) => event.topic === 'image').length, 0, 'never the shared image topic');
      const src = (previews[0].data as { src: string }).src;
      assert.match(src, /^data:image\/webp;base64,/);
      assert.ok(Buffer.from(src.split(',')[1], 'base64').length < 8 * 1024, 'a thumbnail, not the image');
      const kept = await helper.request().get('/image-gen/save-image/n1/preview');
      assert.deepEqual(kept.body, { id: 'n1', src });
      assert.deepEqual((await helper.request().get('/image-gen/save-image/other/preview')).body, { id: 'other', src: null });
    } finally {
      helper._events.off('comms', listener);
    }
  });

  it('publishes nothing when previews are switched off', async () => {
    const published: string[] = [];
    const listener = (event: { topic: string }) => published.push(event.topic);
    helper._events.on('comms', listener);
    try {
      const { run } = await loadFlow(['save-image'], node({ preview: false }));
      await run({ payload: renderPng({ width: 8, height: 8, seed: 1 }) });
      assert.deepEqual(
        published.filter((topic) => topic.startsWith('image-gen/')),
        [],
      );
    } finally {
      helper._events.off('comms', listener);
    }
  });

  it('lists the gallery for msg.gallery and through the admin endpoint, with limit, offset and model filter', async () => {
    const { run } = await loadFlow(['save-image'], node({ filename: 'g-{index}-{model}' }));
    const job = (model: string) => ({ provider: 'pixeldojo', model, status: 'completed', params: { prompt: `made by ${model}` } });
    await run({ payload: renderPng({ width: 4, height: 4, seed: 1 }), job: job('flux-pro') });
    await run({ payload: renderPng({ width: 4, height: 4, seed: 2 }), job: job('flux-dev') });
    await run({ payload: renderPng({ width: 4, height: 4, seed: 3 }), job: job('flux-pro') });
    const listed = (await run({ gallery: { limit: '1', offset: '0', model: 'flux-pro' }, res: { kept: true } })).out;
    const payload = listed?.payload as { total: number; images: Array<{ path: string; prompt: string }> };
    assert.equal(payload.total, 2);
    assert.deepEqual(
      payload.images.map((image) => [image.path, image.prompt]),
      [['g-0-flux-pro-1.png', 'made by flux-pro']],
    );
    assert.deepEqual(listed?.res, { kept: true });
    const viaAdmin = await helper.request().get('/image-gen/save-image/n1/gallery?offset=1&limit=5');
    assert.deepEqual(
      (viaAdmin.body as { images: Array<{ path: string }> }).images.map((image) => image.path),
      ['g-0-flux-dev.png', 'g-0-flux-pro.png'],
    );
    assert.equal((await helper.request().get('/image-gen/save-image/n1/gallery?limit=0')).status, 400);
    assert.match((await run({ gallery: { limit: 'lots' } })).error?.message ?? '', /msg.gallery: limit/);
  });

  it('downloads 200 MB to disk with under 64 MB of memory growth', async () => {
    const { run, sandbox } = await loadFlow(['save-image'], node({ maxSize: '300', preview: false }));
    const size = 200 * 1024 * 1024;
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    try {
      const { out, error } = await run({ payload: `${sandbox.origin}/files/large-${size}.png` }, 60_000);
      assert.equal(error, undefined, error?.message);
      const [file] = out?.files as SavedFile[];
      assert.ok(file.bytes > size, 'the whole body, plus the parameters chunk');
      assert.equal(fs.statSync(file.path).size, file.bytes);
    } finally {
      clearInterval(sampler);
    }
    const growthMb = (peak - baseline) / 1024 / 1024;
    assert.ok(growthMb < 64, `memory grew by ${growthMb.toFixed(1)} MB`);
  });
});
