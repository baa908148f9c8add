import assert from 'node:assert/strict';
import { resolveProviderConfig } from '../../../lib/providers';

describe('lib/providers settings', () => {
  it("fills each kind's documented defaults when editor fields are empty", () => {
    const pixeldojo = resolveProviderConfig({ kind: 'pixeldojo', baseUrl: '', rpm: '', concurrency: '', timeout: '' }, { apiKey: 'k' });
    assert.ok(pixeldojo.ok);
    assert.equal(pixeldojo.value.baseUrl, 'https://pixeldojo.ai/api/v1');
    assert.equal(pixeldojo.value.rpm, 60);
    assert.equal(pixeldojo.value.timeout, 120_000);
    const cloudflare = resolveProviderConfig({ kind: 'cloudflare' }, { apiKey: 'k', accountId: 'a' });
    assert.ok(cloudflare.ok);
    assert.equal(cloudflare.value.baseUrl, 'https://api.cloudflare.com/client/v4');
    assert.equal(cloudflare.value.rpm, 720);
    const piapi = resolveProviderConfig({ kind: 'piapi' }, { apiKey: 'k' });
    assert.ok(piapi.ok);
    assert.equal(piapi.value.concurrency, 2);
  });

  it('reads numbers typed as strings and trims a trailing slash from URLs', () => {
    const resolved = resolveProviderConfig({ kind: 'workers-ai', baseUrl: 'https://w.example.workers.dev/', rpm: '30', concurrency: 3 }, {});
    assert.ok(resolved.ok);
    assert.equal(resolved.value.baseUrl, 'https://w.example.workers.dev');
    assert.equal(resolved.value.rpm, 30);
    assert.equal(resolved.value.concurrency, 3);
  });

  it('names every problem: missing key, account or URL, unknown kind, bad numbers and URLs', () => {
    const problems = (config: unknown, credentials: unknown = {}) => {
      const resolved = resolveProviderConfig(config, credentials);
      assert.equal(resolved.ok, false);
      return resolved.ok ? '' : resolved.problems.join('\n');
    };
    assert.match(problems({ kind: 'pixeldojo' }), /PixelDojo API key is required/);
    assert.match(problems({ kind: 'cloudflare' }, { apiKey: 'k' }), /account id is required/);
    assert.match(problems({ kind: 'workers-ai' }), /needs its URL/);
    assert.match(problems({ kind: 'midjourney' }), /kind/);
    assert.match(problems({ kind: 'sandbox', rpm: '-5' }), /rpm/);
    assert.match(problems({ kind: 'sandbox', rpm: '1e9' }), /rpm/);
    assert.match(problems({ kind: 'sandbox', concurrency: 'lots' }), /concurrency/);
    assert.match(problems({ kind: 'piapi', baseUrl: 'ftp://x' }, { apiKey: 'k' }), /baseUrl: must be an http/);
  });

  it('needs no key for the sandbox', () => {
    assert.ok(resolveProviderConfig({ kind: 'sandbox' }, undefined).ok);
  });
});
