import assert from 'node:assert/strict';
import { backoffDelay, serverRequestedWaitMs } from '../../../lib/http';

describe('lib/http backoff', () => {
  it('grows exponentially with equal jitter and stays under the cap', () => {
    const low = { initialMs: 100, maxMs: 1000, random: () => 0 };
    const high = { initialMs: 100, maxMs: 1000, random: () => 0.999999 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, low)),
      [50, 100, 200, 400, 500, 500],
    );
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, high)),
      [100, 200, 400, 800, 1000, 1000],
    );
  });

  it('reads Retry-After in seconds and as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(serverRequestedWaitMs({ 'retry-after': '3' }, now), 3000);
    assert.equal(serverRequestedWaitMs({ 'retry-after': '0.5' }, now), 500);
    assert.equal(serverRequestedWaitMs({ 'retry-after': 'Thu, 01 Jan 2026 00:00:07 GMT' }, now), 7000);
    assert.equal(serverRequestedWaitMs({ 'retry-after': 'Wed, 31 Dec 2025 00:00:00 GMT' }, now), 0);
  });

  it('reads X-RateLimit-Reset as epoch seconds, epoch milliseconds or a delta', () => {
    const now = 1_700_000_000_000;
    assert.equal(serverRequestedWaitMs({ 'x-ratelimit-reset': '1700000004' }, now), 4000);
    assert.equal(serverRequestedWaitMs({ 'x-ratelimit-reset': '1700000000250' }, now), 250);
    assert.equal(serverRequestedWaitMs({ 'x-ratelimit-reset': '12' }, now), 12_000);
    assert.equal(serverRequestedWaitMs({ 'x-ratelimit-reset': '1699999990' }, now), 0);
  });

  it('prefers Retry-After and ignores headers it cannot read', () => {
    assert.equal(serverRequestedWaitMs({ 'retry-after': '2', 'x-ratelimit-reset': '60' }), 2000);
    assert.equal(serverRequestedWaitMs({ 'retry-after': 'soon' }), undefined);
    assert.equal(serverRequestedWaitMs({}), undefined);
  });
});
