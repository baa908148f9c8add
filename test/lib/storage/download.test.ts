import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpClient, ProviderError } from '../../../lib/http';
import { startSandbox } from '../../../lib/sandbox';
import type { SandboxServer } from '../../../lib/sandbox';
import { downloadImages } from '../../../lib/storage/download';
import { rejectionOf } from '../../support/net';

describe('lib/storage downloadImages', () => {
  let sandbox: SandboxServer;
  let client: HttpClient;
  beforeEach(async () => {
    sandbox = await startSandbox();
    client = new HttpClient({
      provider: 'PixelDojo',
      baseUrl: sandbox.baseUrl('pixeldojo'),
      authHeaders: { authorization: 'Bearer secret-key' },
      timeoutMs: 2000,
      retry: { maxRetries: 0 },
    });
  });
  afterEach(async () => {
    await client.close();
    await sandbox.close();
  });

  it('fetches each URL into data with its type and size, without sending the provider key to the CDN', async () => {
    const url = sandbox.fileUrl({ seed: 1, width: 64, height: 32, format: 'jpg', tag: 'x' });
    const [image, kept] = await downloadImages(client, [{ url, seed: 1 }, { data: Buffer.from('already') }]);
    assert.equal(image.mimeType, 'image/jpeg');
    assert.deepEqual([image.width, image.height, image.seed], [64, 32, 1]);
    assert.deepEqual(kept.data, Buffer.from('already'));
    assert.equal(sandbox.requestsTo('files')[0].headers.authorization, undefined);
  });

  it('refuses a body that is not an image, naming the URL and the job', async () => {
    const url = `${sandbox.baseUrl('pixeldojo')}/models`;
    const error = await rejectionOf(downloadImages(client, [{ url }], undefined, 'job_1'));
    assert.ok(error instanceof ProviderError);
    assert.match(error.message, /\/models did not return a PNG, JPEG or WebP image \(application\/json\) \(job job_1\)/);
  });

  for (const url of [
    'file:///etc/passwd',
    'ftp://127.0.0.1/x.png',
    'data:image/png;base64,iVBORw0KGgo=',
    'javascript:alert(1)',
    '//127.0.0.1/x.png',
    '/files/x.png',
  ]) {
    it(`refuses to download ${url}, sending nothing`, async () => {
      const error = await rejectionOf(downloadImages(client, [{ url }]));
      assert.equal(error.name, 'InvalidRequestError');
      assert.match(error.message, /only http:\/\/ and https:\/\/ image URLs are downloaded/);
      assert.equal(sandbox.requests.length, 0);
    });
  }

  it('follows no redirect, saying so', async () => {
    const target = sandbox.fileUrl({ seed: 1, width: 8, height: 8, format: 'png', tag: 'x' });
    const redirecting = createServer((_req, res) => res.writeHead(302, { location: target }).end());
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/image.png`;
      const error = await rejectionOf(downloadImages(client, [{ url }]));
      assert.match(error.message, /image\.png redirects \(HTTP 302\); image downloads follow no redirect/);
      assert.equal(sandbox.requestsTo('files').length, 0);
    } finally {
      redirecting.close();
    }
  });

  it('reports an expired (404) URL', async () => {
    const error = await rejectionOf(downloadImages(client, [{ url: `${sandbox.origin}/files/gone.png` }]));
    assert.match(error.message, /HTTP 404/);
  });

  it('gives up on a body dripped a byte at a time at the message deadline, though each byte comes in time', async () => {
    const started = Date.now();
    const error = await rejectionOf(downloadImages(client, [{ url: `${sandbox.origin}/files/drip-20.png` }], undefined, 'job-9', { deadlineMs: 600 }));
    assert.ok(error instanceof ProviderError);
    assert.equal(error.kind, 'timeout');
    assert.match(error.message, /not downloaded within 0\.6 s: .*drip-20\.png came too slowly \(job job-9\)/);
    assert.ok(Date.now() - started < 2_000);
  });

  it('caps what one message holds in memory across all its images, not per image only', async () => {
    const urls = [1, 2, 3, 4].map(() => ({ url: `${sandbox.origin}/files/large-3000000.png` }));
    const error = await rejectionOf(downloadImages(client, urls, undefined, undefined, { maxMessageBytes: 8_000_000 }));
    assert.match(error.message, /larger than|too large|limit/i);
    const fits = await downloadImages(client, urls.slice(0, 2), undefined, undefined, { maxMessageBytes: 8_000_000 });
    assert.equal(fits.length, 2, 'two of 3 MB fit in 8 MB');
  });
});
