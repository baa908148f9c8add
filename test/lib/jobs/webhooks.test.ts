import assert from 'node:assert/strict';
import { pixeldojoWebhookUrl } from '../../../lib/providers/pixeldojo';
import { Readable } from 'node:stream';
import {
  WebhookRegistry,
  deliveryCredentials,
  newWebhookSecret,
  readBodyWithin,
  readDelivery,
  readWebhookBody,
  sameSecretHash,
  webhookEndpointUrl,
  webhookSecretHash,
} from '../../../lib/jobs/webhooks';
import type { WebhookDelivery } from '../../../lib/jobs/webhooks';

const completed = (secret: string, jobId = 'task-1'): WebhookDelivery => ({
  provider: 'piapi',
  secret,
  jobId,
  snapshot: { status: 'completed', images: [{ url: 'u' }] },
});

describe('lib/jobs webhooks', () => {
  it('makes a different long secret per job, and keeps only a digest that compares in constant time', () => {
    const [a, b] = [newWebhookSecret(), newWebhookSecret()];
    assert.notEqual(a, b);
    assert.ok(a.length >= 32 && /^[\w-]+$/.test(a), 'URL-safe');
    assert.match(webhookSecretHash(a), /^[0-9a-f]{64}$/);
    assert.ok(sameSecretHash(webhookSecretHash(a), webhookSecretHash(a)));
    assert.ok(!sameSecretHash(webhookSecretHash(a), webhookSecretHash(b)));
    assert.ok(!sameSecretHash(webhookSecretHash(a), 'abcd'), 'a digest of another length is simply different');
  });

  it('joins the public base URL and the node path, and refuses an empty base URL', () => {
    assert.equal(webhookEndpointUrl('https://nr.example.com/', '/image-gen/webhook'), 'https://nr.example.com/image-gen/webhook');
    assert.equal(webhookEndpointUrl('https://nr.example.com/api', 'hooks'), 'https://nr.example.com/api/hooks');
    assert.throws(() => webhookEndpointUrl('', '/x'), /webhook URL/);
    assert.equal(pixeldojoWebhookUrl('https://nr.example.com/hook', 'tok en'), 'https://nr.example.com/hook?token=tok+en');
  });

  it('attributes a callback by where its secret is, and reads each provider documented body', () => {
    assert.deepEqual(deliveryCredentials({ token: 't' }, {}), { provider: 'pixeldojo', secret: 't' });
    assert.deepEqual(deliveryCredentials({}, { 'x-webhook-secret': 's' }), { provider: 'piapi', secret: 's' });
    assert.equal(deliveryCredentials({ token: '' }, {}), undefined);
    assert.equal(deliveryCredentials({}, { 'x-webhook-secret': ['a', 'b'] }), undefined);

    const piapi = readDelivery(
      { provider: 'piapi', secret: 's' },
      { timestamp: 1, data: { task_id: 't1', status: 'Completed', output: { image_urls: ['a', 'b'] } } },
    );
    assert.equal(piapi?.jobId, 't1');
    assert.equal(piapi?.snapshot.status, 'completed', 'status compared case-insensitively');
    assert.deepEqual(
      piapi?.snapshot.images?.map((image) => image.url),
      ['a', 'b'],
    );
    assert.equal(readDelivery({ provider: 'piapi', secret: 's' }, { timestamp: 1, data: { task_id: 't1', status: 'staged' } })?.snapshot.status, 'pending');
    assert.equal(readDelivery({ provider: 'piapi', secret: 's' }, { data: { status: 'completed' } }), undefined, 'no task_id');
    assert.equal(readDelivery({ provider: 'piapi', secret: 's' }, { timestamp: 1, data: { task_id: 't', status: 'exploded' } }), undefined, 'unknown status');

    const pixeldojo = readDelivery({ provider: 'pixeldojo', secret: 't' }, { jobId: 'job_1', status: 'completed', assets: [{ url: 'x' }], creditCost: 1 });
    assert.equal(pixeldojo?.jobId, 'job_1');
    assert.deepEqual(pixeldojo?.snapshot.cost, { credits: 1 });
    assert.equal(readDelivery({ provider: 'pixeldojo', secret: 't' }, 'not json'), undefined);
  });

  it('settles a job once: progress is passed on, the first terminal delivery wins, later ones are repeats', async () => {
    const registry = new WebhookRegistry();
    const secret = newWebhookSecret();
    const expectation = registry.expect('piapi', webhookSecretHash(secret));
    registry.identify(expectation, 'task-1');
    const progress: string[] = [];
    expectation.onProgress = (snapshot) => progress.push(snapshot.status);
    assert.equal(registry.deliver({ ...completed(secret), snapshot: { status: 'processing' } }), 'progress');
    assert.equal(registry.deliver(completed(secret)), 'completed');
    assert.equal(registry.deliver(completed(secret)), 'repeat');
    assert.deepEqual(progress, ['processing']);
    assert.equal((await expectation.terminal).status, 'completed');
    registry.settle(expectation);
    assert.equal(registry.deliver(completed(secret)), 'repeat', 'still a repeat after the wait ended');
    assert.ok(registry.knows(webhookSecretHash(secret)));
  });

  it('treats an unknown secret, another job id or another provider as unknown', () => {
    const registry = new WebhookRegistry();
    const secret = newWebhookSecret();
    registry.expect('piapi', webhookSecretHash(secret), 'task-1');
    assert.equal(registry.deliver(completed(newWebhookSecret())), 'unknown');
    assert.equal(registry.deliver(completed(secret, 'task-2')), 'unknown', 'a secret is good for its own job only');
    assert.equal(registry.deliver({ ...completed(secret), provider: 'pixeldojo' }), 'unknown');
    assert.equal(registry.deliver(completed(secret)), 'completed');
  });

  it('keeps a delivery that arrives before anyone waits, and finds the job by id for job-poll', async () => {
    const registry = new WebhookRegistry();
    const secret = newWebhookSecret();
    const submitted = registry.expect('pixeldojo', webhookSecretHash(secret));
    registry.identify(submitted, 'job_9');
    assert.equal(registry.deliver({ provider: 'pixeldojo', secret, jobId: 'job_9', snapshot: { status: 'failed', reason: 'x' } }), 'completed');
    const found = registry.forJob('pixeldojo', 'job_9');
    assert.equal(found, submitted);
    assert.equal((await found?.terminal)?.status, 'failed');
    assert.equal(registry.forJob('piapi', 'job_9'), undefined);
    assert.equal(registry.expect('pixeldojo', webhookSecretHash(secret)), submitted, 'a resumed wait gets the same expectation');
  });

  it('forgets a settled job by id, and keeps finding the others, at 10000 pending', () => {
    const registry = new WebhookRegistry();
    const hashes = Array.from({ length: 10_000 }, () => webhookSecretHash(newWebhookSecret()));
    hashes.forEach((hash, index) => registry.expect('piapi', hash, `task-${index}`));
    registry.settle({ secretHash: hashes[5] as string });
    assert.equal(registry.forJob('piapi', 'task-5'), undefined);
    assert.equal(registry.forJob('piapi', 'task-9999')?.secretHash, hashes[9999]);
  });

  it('reads a body up to the cap, and stops reading past it', async () => {
    assert.equal((await readBodyWithin(Readable.from([Buffer.from('ab'), 'cd']), 4))?.toString(), 'abcd');
    let pulled = 0;
    const endless = Readable.from(
      (function* () {
        for (;;) {
          pulled++;
          yield Buffer.alloc(1024);
        }
      })(),
    );
    assert.equal(await readBodyWithin(endless, 10 * 1024), undefined);
    assert.ok(pulled <= 12, `stopped after ${pulled} chunks`);
  });

  it("takes a JSON body that Node-RED's admin body parser already read (admin and node routes both at /), within the cap", async () => {
    const request = (chunks: Array<string | Buffer>, extra: { body?: unknown; _body?: boolean; length?: number } = {}) =>
      Object.assign(Readable.from(chunks), {
        headers: extra.length === undefined ? {} : { 'content-length': String(extra.length) },
        body: extra.body,
        _body: extra._body,
      });
    const task = { timestamp: 1, data: { task_id: 't', status: 'completed' } };
    assert.deepEqual(await readWebhookBody(request([], { body: task, _body: true }), 1024), { kind: 'json', value: task });
    assert.deepEqual(await readWebhookBody(request([JSON.stringify(task)]), 1024), { kind: 'json', value: task });
    assert.deepEqual(await readWebhookBody(request(['{not json']), 1024), { kind: 'json', value: undefined });
    assert.deepEqual(await readWebhookBody(request([], { body: { data: 'x'.repeat(2000) }, _body: true }), 1024), { kind: 'too-large' });
    assert.deepEqual(await readWebhookBody(request(['{}'], { length: 4096 }), 1024), { kind: 'too-large' });
    // An empty object from a parser that did not run (no `_body`) is not taken for the body.
    assert.deepEqual(await readWebhookBody(request([JSON.stringify(task)], { body: {} }), 1024), { kind: 'json', value: task });
  });
});
