import assert from 'node:assert/strict';
import { mayRetry, submitMayHaveBeenAccepted } from '../../../lib/http';

describe('lib/http retry policy', () => {
  it('retries reads on network errors, timeouts, 408, 429 and 5xx only', () => {
    for (const status of [408, 429, 500, 502, 503, 504]) assert.equal(mayRetry('read', { kind: 'status', status }), true, String(status));
    for (const status of [400, 401, 403, 404, 410, 422]) assert.equal(mayRetry('read', { kind: 'status', status }), false, String(status));
    assert.equal(mayRetry('read', { kind: 'network', reachedServer: true }), true);
    assert.equal(mayRetry('read', { kind: 'timeout', reachedServer: true }), true);
  });

  it('retries a submit only on 429 or a connection that never reached the server', () => {
    assert.equal(mayRetry('submit', { kind: 'status', status: 429 }), true);
    assert.equal(mayRetry('submit', { kind: 'network', reachedServer: false }), true);
    assert.equal(mayRetry('submit', { kind: 'timeout', reachedServer: false }), true);
    for (const status of [408, 500, 502, 503]) assert.equal(mayRetry('submit', { kind: 'status', status }), false, String(status));
    assert.equal(mayRetry('submit', { kind: 'network', reachedServer: true }), false);
    assert.equal(mayRetry('submit', { kind: 'timeout', reachedServer: true }), false);
  });

  it('calls a submit ambiguous after a 5xx, a reset or a timeout, not after a 4xx or a refusal', () => {
    assert.equal(submitMayHaveBeenAccepted({ kind: 'status', status: 500 }), true);
    assert.equal(submitMayHaveBeenAccepted({ kind: 'timeout', reachedServer: true }), true);
    assert.equal(submitMayHaveBeenAccepted({ kind: 'network', reachedServer: true }), true);
    assert.equal(submitMayHaveBeenAccepted({ kind: 'status', status: 400 }), false);
    assert.equal(submitMayHaveBeenAccepted({ kind: 'network', reachedServer: false }), false);
  });
});
