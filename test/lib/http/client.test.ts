import assert from 'node:assert/strict';
import { z } from 'zod';
import { HttpClient, ProviderError, RateLimiter } from '../../../lib/http';
import type { HttpClientOptions } from '../../../lib/http';
import { SANDBOX_API_KEY, startSandbox } from '../../../lib/sandbox';
import type { SandboxServer } from '../../../lib/sandbox';
import { freePort, rejectionOf } from '../../support/net';

const modelsSchema = z.object({ models: z.array(z.object({ apiId: z.string() })) });
const fluxSchema = z.object({ images: z.array(z.string()), credits_used: z.number() });
const FLUX_BODY = { prompt: 'a lighthouse at dusk', model: 'flux-pro' };

describe('lib/http HttpClient (against the sandbox)', () => {
  let sandbox: SandboxServer;
  const clients: HttpClient[] = [];

  function client(overrides: Partial<HttpClientOptions> = {}): HttpClient {
    const created = new HttpClient({
      provider: 'PixelDojo',
      baseUrl: sandbox.baseUrl('pixeldojo'),
      authHeaders: { authorization: `Bearer ${SANDBOX_API_KEY}` },
      secrets: [SANDBOX_API_KEY],
      timeoutMs: 2000,
      retry: { initialDelayMs: 20, maxDelayMs: 100, maxRetries: 3 },
      ...overrides,
    });
    clients.push(created);
    return created;
  }
  const submit = (target: HttpClient, signal?: AbortSignal) =>
    target.json({ method: 'POST', path: 'flux', json: FLUX_BODY, intent: 'submit', signal }, fluxSchema);
  const read = (target: HttpClient, signal?: AbortSignal) => target.json({ method: 'GET', path: 'models', intent: 'read', signal }, modelsSchema);

  beforeEach(async () => {
    sandbox = await startSandbox();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((entry) => entry.close()));
    await sandbox.close();
  });

  describe('reads (idempotent)', () => {
    for (const [label, fault] of [
      ['500', { type: 'status', status: 500 }],
      ['503', { type: 'status', status: 503 }],
      ['408', { type: 'status', status: 408 }],
      ['429', { type: 'status', status: 429 }],
      ['a reset connection', { type: 'reset' }],
    ] as const) {
      it(`are retried after ${label} and succeed`, async () => {
        sandbox.injectFault({ api: 'pixeldojo', path: '/models', fault, times: 2 });
        const answer = await read(client());
        assert.ok(answer.models.length > 0);
        assert.equal(sandbox.requestsTo('pixeldojo', 'GET', '/models').length, 3);
      });
    }

    it('are retried after a timeout', async () => {
      sandbox.injectFault({ api: 'pixeldojo', path: '/models', fault: { type: 'hang' } });
      const answer = await read(client({ timeoutMs: 200 }));
      assert.ok(answer.models.length > 0);
      assert.equal(sandbox.requestsTo('pixeldojo', 'GET', '/models').length, 2);
    });

    it('are not retried after a 4xx, and the error carries the provider code', async () => {
      const error = await rejectionOf(client().send({ method: 'GET', path: 'jobs/job_missing', intent: 'read', jobId: 'job_missing' }));
      assert.ok(error instanceof ProviderError);
      assert.equal(error.status, 404);
      assert.equal(error.code, undefined); // no decoder configured on this client
      assert.equal(error.jobId, 'job_missing');
      assert.match(error.message, /HTTP 404.*\(job job_missing\)/);
      assert.equal(sandbox.requestsTo('pixeldojo', 'GET', '/jobs/').length, 1);
    });

    it('give up after maxRetries with a retryable error', async () => {
      sandbox.injectFault({ api: 'pixeldojo', path: '/models', fault: { type: 'status', status: 502 }, times: 10 });
      const error = await rejectionOf(read(client({ retry: { initialDelayMs: 5, maxRetries: 2 } })));
      assert.ok(error instanceof ProviderError);
      assert.equal(error.status, 502);
      assert.equal(error.retryable, true);
      assert.equal(sandbox.requestsTo('pixeldojo', 'GET', '/models').length, 3);
    });
  });

  describe('submits (paid)', () => {
    for (const [label, fault] of [
      ['a 500', { type: 'status', status: 500 }],
      ['a 503', { type: 'status', status: 503 }],
      ['a reset connection', { type: 'reset' }],
    ] as const) {
      it(`are sent exactly once after ${label}, and say the job may exist`, async () => {
        sandbox.injectFault({ api: 'pixeldojo', path: '/flux', fault });
        const error = await rejectionOf(submit(client()));
        assert.ok(error instanceof ProviderError);
        assert.equal(error.mayHaveBeenAccepted, true);
        assert.match(error.message, /may have reached PixelDojo.*not sent again/);
        assert.equal(sandbox.requestsTo('pixeldojo', 'POST', '/flux').length, 1);
      });
    }

    it('are sent exactly once after a timeout', async () => {
      sandbox.injectFault({ api: 'pixeldojo', path: '/flux', fault: { type: 'hang' } });
      const error = await rejectionOf(submit(client({ timeoutMs: 250 })));
      assert.ok(error instanceof ProviderError);
      assert.equal(error.kind, 'timeout');
      assert.equal(error.mayHaveBeenAccepted, true);
      assert.equal(sandbox.requestsTo('pixeldojo', 'POST', '/flux').length, 1);
    });

    it('are retried after a 429, because the provider did not take them', async () => {
      sandbox.injectFault({ api: 'pixeldojo', path: '/flux', fault: { type: 'status', status: 429, retryAfter: '0' } });
      const answer = await submit(client());
      assert.equal(answer.images.length, 1);
      assert.equal(sandbox.requestsTo('pixeldojo', 'POST', '/flux').length, 2);
    });

    it('are retried when the connection was refused, and reach the server once', async () => {
      const port = await freePort();
      const notices: string[] = [];
      const target = client({
        baseUrl: `http://127.0.0.1:${port}/pixeldojo/api/v1`,
        retry: { initialDelayMs: 600, maxRetries: 3 },
        onRetry: (notice) => notices.push(notice.reason),
      });
      const answer = submit(target);
      // The first attempt meets a closed port; the sandbox comes up before the first retry (>= 300 ms later).
      await new Promise((resolve) => setTimeout(resolve, 100));
      const server = await startSandbox({ port });
      try {
        assert.equal((await answer).images.length, 1);
        assert.equal(notices.length, 1);
        assert.match(notices[0], /could not connect .*ECONNREFUSED/);
        assert.equal(server.requestsTo('pixeldojo', 'POST', '/flux').length, 1);
      } finally {
        await server.close();
      }
    });

    it('are not retried after a 400, which names the documented problem', async () => {
      const error = await rejectionOf(client().json({ method: 'POST', path: 'flux', json: { prompt: 'x', num_outputs: 99 }, intent: 'submit' }, fluxSchema));
      assert.ok(error instanceof ProviderError);
      assert.equal(error.status, 400);
      assert.equal(error.mayHaveBeenAccepted, false);
      assert.equal(sandbox.requestsTo('pixeldojo', 'POST', '/flux').length, 1);
    });
  });

  describe('server-requested waits', () => {
    it('honour Retry-After', async () => {
      sandbox.injectFault({ api: 'pixeldojo', path: '/flux', fault: { type: 'status', status: 429, retryAfter: '1' } });
      await submit(client());
      const [first, second] = sandbox.requestsTo('pixeldojo', 'POST', '/flux');
      assert.ok(second.receivedAt - first.receivedAt >= 1000, `waited ${second.receivedAt - first.receivedAt} ms`);
    });

    it('honour X-RateLimit-Reset (epoch seconds)', async () => {
      const reset = Math.ceil(Date.now() / 1000) + 1;
      sandbox.injectFault({ api: 'pixeldojo', path: '/models', fault: { type: 'status', status: 429, rateLimitReset: String(reset) } });
      await read(client());
      const [, second] = sandbox.requestsTo('pixeldojo', 'GET', '/models');
      assert.ok(second.receivedAt >= reset * 1000 - 5, `retried ${reset * 1000 - second.receivedAt} ms early`);
    });

    it('are not waited out past the cap: the error says how long the provider asked for', async () => {
      sandbox.injectFault({ api: 'pixeldojo', path: '/flux', fault: { type: 'status', status: 429, retryAfter: '3600' } });
      const error = await rejectionOf(submit(client({ retry: { maxServerWaitMs: 5000 } })));
      assert.ok(error instanceof ProviderError);
      assert.equal(error.kind, 'rate-limited');
      assert.equal(error.retryAfterMs, 3_600_000);
      assert.match(error.message, /asks to wait 3600 s, longer than the 5 s/);
      assert.equal(sandbox.requestsTo('pixeldojo', 'POST', '/flux').length, 1);
    });
  });

  describe('cancellation', () => {
    it('stops an in-flight request within 100 ms of abort', async () => {
      sandbox.injectFault({ api: 'pixeldojo', path: '/models', fault: { type: 'hang' } });
      const controller = new AbortController();
      const pending = rejectionOf(read(client({ timeoutMs: 30_000 }), controller.signal));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const abortedAt = performance.now();
      controller.abort();
      const error = await pending;
      assert.ok(performance.now() - abortedAt < 100, `took ${performance.now() - abortedAt} ms`);
      assert.ok(error instanceof ProviderError);
      assert.equal(error.kind, 'aborted');
    });

    it('stops a backoff wait within 100 ms of abort, without another attempt', async () => {
      sandbox.injectFault({ api: 'pixeldojo', path: '/models', fault: { type: 'status', status: 429, retryAfter: '30' } });
      const controller = new AbortController();
      const pending = rejectionOf(read(client(), controller.signal));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const abortedAt = performance.now();
      controller.abort();
      const error = await pending;
      assert.ok(performance.now() - abortedAt < 100);
      assert.equal((error as ProviderError).kind, 'aborted');
      assert.equal(sandbox.requestsTo('pixeldojo', 'GET', '/models').length, 1);
    });

    it('stops a wait for the rate limiter, and nothing is sent', async () => {
      const limiter = new RateLimiter({ limit: 1, windowMs: 60_000, maxWaiting: 10, name: 'test' });
      const target = client({ rateLimiter: limiter });
      await read(target);
      const controller = new AbortController();
      const pending = rejectionOf(read(target, controller.signal));
      setTimeout(() => controller.abort(), 30);
      assert.equal(((await pending) as ProviderError).kind, 'aborted');
      assert.equal(sandbox.requestsTo('pixeldojo', 'GET', '/models').length, 1);
      limiter.close();
    });
  });

  describe('limits through the client', () => {
    it('keeps 200 concurrent requests under the rate limit at the server', async () => {
      const limit = 40;
      const windowMs = 500;
      const limiter = new RateLimiter({ limit, windowMs, maxWaiting: 500, name: 'test' });
      const target = client({ rateLimiter: limiter });
      await Promise.all(Array.from({ length: 200 }, () => read(target)));
      const times = sandbox
        .requestsTo('pixeldojo', 'GET', '/models')
        .map((entry) => entry.receivedAt)
        .sort((a, b) => a - b);
      assert.equal(times.length, 200);
      for (let i = 0; i + limit < times.length; i++) {
        // The limiter spaces request starts exactly (see limiters.test); arrivals also carry connection-setup
        // and scheduling jitter on a shared machine (31 ms seen in CI), so the server-side check allows 100 ms.
        assert.ok(times[i + limit] - times[i] >= windowMs - 100, `requests ${i} and ${i + limit} arrived ${times[i + limit] - times[i]} ms apart`);
      }
      limiter.close();
    });

    it('turns a full limiter queue into a clear error and sends nothing', async () => {
      const limiter = new RateLimiter({ limit: 1, windowMs: 60_000, maxWaiting: 2, name: 'PixelDojo (mine)' });
      const target = client({ rateLimiter: limiter });
      await read(target);
      const queued = [read(target).catch(() => undefined), read(target).catch(() => undefined)];
      const error = await rejectionOf(read(target));
      assert.ok(error instanceof ProviderError);
      assert.equal(error.kind, 'queue-full');
      assert.match(error.message, /2 requests are already waiting/);
      limiter.close();
      await Promise.all(queued);
      assert.equal(sandbox.requestsTo('pixeldojo', 'GET', '/models').length, 1);
    });
  });

  describe('answers', () => {
    it('rejects malformed JSON clearly', async () => {
      sandbox.injectFault({ api: 'pixeldojo', path: '/flux', fault: { type: 'malformed' } });
      const error = await rejectionOf(submit(client()));
      assert.ok(error instanceof ProviderError);
      assert.equal(error.kind, 'malformed');
      assert.match(error.message, /not JSON/);
    });

    it('rejects JSON without the documented shape, naming the field', async () => {
      const error = await rejectionOf(client().json({ method: 'GET', path: 'models', intent: 'read' }, z.object({ total: z.number() })));
      assert.equal((error as ProviderError).kind, 'malformed');
      assert.match(error.message, /total/);
    });

    it('refuses an answer larger than maxBodyBytes', async () => {
      const error = await rejectionOf(client().send({ method: 'GET', path: 'models', intent: 'read', maxBodyBytes: 16 }));
      assert.match(error.message, /larger than the 16 bytes/);
    });
  });

  describe('credentials', () => {
    it('never appear in an error message, whatever the failure', async () => {
      const apiKey = 'pd_live_SECRET_4f9a8b7c';
      const accountId = 'acct-0123456789abcdef';
      const echoing = { type: 'status', status: 401, body: { error: { code: 'unauthorized', message: `bad key ${apiKey} for ${accountId}` } } } as const;
      const target = client({
        authHeaders: { authorization: `Bearer ${apiKey}` },
        secrets: [apiKey, accountId],
        decodeError: (_status, body) => ({ message: body }),
        timeoutMs: 200,
        retry: { maxRetries: 0 },
      });
      sandbox.injectFault({ api: 'pixeldojo', fault: echoing });
      sandbox.injectFault({ api: 'pixeldojo', path: '/models', fault: { type: 'hang' } });
      const errors = [
        await rejectionOf(submit(target)),
        await rejectionOf(read(target)),
        await rejectionOf(target.send({ method: 'GET', path: `accounts/${accountId}/jobs`, intent: 'read' })),
        await rejectionOf(
          new HttpClient({
            provider: 'X',
            baseUrl: `http://127.0.0.1:${await freePort()}/${accountId}`,
            secrets: [accountId],
            timeoutMs: 500,
            retry: { maxRetries: 0 },
          }).send({
            method: 'GET',
            path: apiKey,
            intent: 'read',
          }),
        ),
      ];
      assert.match(errors[0].message, /\[redacted\]/);
      for (const error of errors) {
        const text = `${error.message} ${JSON.stringify(error)} ${String(error.stack)}`;
        assert.ok(!text.includes(apiKey), text);
        assert.ok(!text.includes(accountId), text);
      }
    });
  });

  it('refuses a relative path with a "." or ".." segment, written or percent-encoded, before anything is sent', async () => {
    const beforeSend: string[] = [];
    const client = new HttpClient({ provider: 'X', baseUrl: `http://127.0.0.1:${await freePort()}/api/v1`, timeoutMs: 500, retry: { maxRetries: 0 } });
    try {
      for (const path of ['task/..', 'task/.', 'a/%2E%2e/b', '%2e', '../x']) {
        const error = await rejectionOf(client.send({ method: 'GET', path, intent: 'read', beforeSend: async () => void beforeSend.push(path) }));
        assert.equal(error.name, 'InvalidRequestError', path);
        assert.match(error.message, /would change the API route/);
      }
      assert.deepEqual(beforeSend, [], 'nothing was about to be sent');
      // Dots inside a segment are ordinary characters.
      const error = await rejectionOf(client.send({ method: 'GET', path: 'models/flux.1..dev', intent: 'read' }));
      assert.equal(error.name, 'ProviderError', 'the request was tried (and refused by the closed port)');
    } finally {
      await client.close();
    }
  });
});
