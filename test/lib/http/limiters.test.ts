import assert from 'node:assert/strict';
import { ConcurrencyLimiter, LimiterQueueFullError, RateLimiter, sleep } from '../../../lib/http';
import { rejectionOf } from '../../support/net';

describe('lib/http limiters', () => {
  describe('RateLimiter', () => {
    it('never starts more than `limit` calls in any window, under 200 concurrent callers', async () => {
      const limit = 25;
      const windowMs = 200;
      const limiter = new RateLimiter({ limit, windowMs, maxWaiting: 500, name: 'test' });
      const started = performance.now();
      const grants = await Promise.all(
        Array.from({ length: 200 }, () =>
          limiter.acquire().then((place) => {
            place.sent();
            return performance.now();
          }),
        ),
      );
      grants.sort((a, b) => a - b);
      for (let i = 0; i + limit < grants.length; i++) {
        assert.ok(grants[i + limit] - grants[i] >= windowMs - 2, `calls ${i} and ${i + limit} started ${grants[i + limit] - grants[i]} ms apart`);
      }
      // 200 calls at 25 per window need at least 7 full windows after the first burst.
      assert.ok(grants[grants.length - 1] - started >= 7 * windowMs - 2);
      limiter.close();
    });

    it('refuses a caller at once when the wait queue is full, naming the limit', async () => {
      const limiter = new RateLimiter({ limit: 1, windowMs: 10_000, maxWaiting: 3, name: 'PixelDojo (test)' });
      (await limiter.acquire()).sent();
      const waiting = Array.from({ length: 3 }, () => limiter.acquire().catch((error: Error) => error));
      const refused = await rejectionOf(limiter.acquire());
      assert.ok(refused instanceof LimiterQueueFullError);
      assert.match(refused.message, /PixelDojo \(test\): 3 requests are already waiting .*1 per 10 s/);
      limiter.close();
      for (const outcome of await Promise.all(waiting)) assert.match((outcome as Error).message, /closed/);
    });

    it('counts a request from when it is sent, so work between grant and send cannot bunch requests past the limit', async () => {
      const limit = 5;
      const windowMs = 300;
      const limiter = new RateLimiter({ limit, windowMs, maxWaiting: 100, name: 'test' });
      // Each caller does up to 120 ms of work (a journal write) between its grant and its send.
      const delays = Array.from({ length: 20 }, (_, index) => ((index * 37) % 120) + 1);
      const sends = await Promise.all(
        delays.map(async (delay) => {
          const place = await limiter.acquire();
          await sleep(delay);
          place.sent();
          return performance.now();
        }),
      );
      sends.sort((a, b) => a - b);
      for (let i = 0; i + limit < sends.length; i++) {
        assert.ok(sends[i + limit] - sends[i] >= windowMs - 2, `sends ${i} and ${i + limit} left ${(sends[i + limit] - sends[i]).toFixed(0)} ms apart`);
      }
      limiter.close();
    });

    it('spreads many requests over the window after a burst of a tenth of the limit', async () => {
      const limiter = new RateLimiter({ limit: 20, windowMs: 1000, maxWaiting: 100, name: 'test' });
      const started = performance.now();
      const grants = await Promise.all(
        Array.from({ length: 8 }, async () => {
          (await limiter.acquire()).sent();
          return performance.now() - started;
        }),
      );
      grants.sort((a, b) => a - b);
      const timeline = grants.map((at) => at.toFixed(0)).join(', ');
      // A burst of 2 (a tenth of 20), then one every 50 ms (1000 / 20).
      assert.ok(grants[1] < 20 && grants[2] >= 45, `the burst: ${timeline}`);
      for (let i = 3; i < grants.length; i++) assert.ok(grants[i] - grants[i - 1] >= 45, `grants ${i - 1} and ${i}: ${timeline}`);
      limiter.close();
    });

    it('gives back the place of a request that is cancelled before it is sent', async () => {
      const limiter = new RateLimiter({ limit: 10, windowMs: 1000, maxWaiting: 10, name: 'test' });
      (await limiter.acquire()).cancel();
      const started = performance.now();
      (await limiter.acquire()).sent();
      // With the place kept, this one would have waited 100 ms for the bucket.
      assert.ok(performance.now() - started < 50, `${(performance.now() - started).toFixed(0)} ms`);
      limiter.close();
    });

    it('lets an aborted waiter leave the queue without taking a slot', async () => {
      const limiter = new RateLimiter({ limit: 1, windowMs: 150, maxWaiting: 5, name: 'test' });
      (await limiter.acquire()).sent();
      const controller = new AbortController();
      const aborted = limiter.acquire(controller.signal);
      const next = limiter.acquire();
      controller.abort();
      await assert.rejects(aborted, { name: 'AbortError' });
      assert.equal(limiter.waiting, 1);
      await next;
      limiter.close();
    });
  });

  describe('ConcurrencyLimiter', () => {
    it('keeps at most `max` tasks in flight and runs them all', async () => {
      const limiter = new ConcurrencyLimiter({ max: 3, maxWaiting: 100, name: 'test' });
      let running = 0;
      let peak = 0;
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          limiter.run(async () => {
            peak = Math.max(peak, ++running);
            await sleep(5);
            running--;
            return index;
          }),
        ),
      );
      assert.equal(peak, 3);
      assert.deepEqual(
        results,
        Array.from({ length: 20 }, (_, index) => index),
      );
      assert.equal(limiter.inFlight, 0);
    });

    it('never refuses the wait of a job already paid for, however full the queue', async () => {
      const limiter = new ConcurrencyLimiter({ max: 1, maxWaiting: 1, name: 'test' });
      const release = await limiter.acquire();
      const waiting = [limiter.acquire(), ...Array.from({ length: 5 }, () => limiter.acquire(undefined, { alreadyPaid: true }))];
      await assert.rejects(limiter.acquire(), LimiterQueueFullError);
      release();
      for (const slot of waiting) (await slot)();
      assert.equal(limiter.inFlight, 0);
    });

    it('fails clearly when the queue is full and frees slots released twice only once', async () => {
      const limiter = new ConcurrencyLimiter({ max: 1, maxWaiting: 1, name: 'PiAPI (free plan)' });
      const release = await limiter.acquire();
      const queued = limiter.acquire();
      const refused = await rejectionOf(limiter.acquire());
      assert.match(refused.message, /PiAPI \(free plan\): 1 jobs are already waiting for one of the 1 concurrent job slots/);
      release();
      release();
      const second = await queued;
      assert.equal(limiter.inFlight, 1);
      second();
      assert.equal(limiter.inFlight, 0);
    });
  });
});
