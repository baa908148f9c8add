import assert from 'node:assert/strict';
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
    client = new HttpClient({ provider: 'PixelDojo', baseUrl: sandbox.baseUrl('pixeldojo'), authHeaders: { authorization: 'Bearer secret-key' }, timeoutMs: 2000, retry: { maxRetries: 0 } });
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

  it('reports an expired (404) URL', async () => {
    const error = await rejectionOf(downloadImages(client, [{ url: `${sandbox.origin}/files/gone.png` }]));
    assert.match(error.message, /HTTP 404/);
  });
});
