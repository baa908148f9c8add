import assert from 'node:assert/strict';
import type { NodeAPI } from 'node-red';
import { loopbackNodeUrl } from '../../../nodes/shared/provider';

describe('nodes/shared loopbackNodeUrl', () => {
  const at = (settings: Record<string, unknown>) => loopbackNodeUrl({ settings } as unknown as NodeAPI);

  it('is where this Node-RED serves http in routes, from its settings', () => {
    assert.equal(at({ uiPort: 1880, httpNodeRoot: '/' }), 'http://127.0.0.1:1880');
    assert.equal(at({ uiPort: 1881, uiHost: '0.0.0.0', httpNodeRoot: '/api/' }), 'http://127.0.0.1:1881/api');
    assert.equal(at({ uiPort: 1882, uiHost: '::1' }), 'http://[::1]:1882');
    assert.equal(at({ uiPort: 1883, uiHost: '192.0.2.7', https: { key: 'k' } }), 'https://192.0.2.7:1883');
  });

  it('is undefined where Node-RED serves no node routes or has no port (the test helper)', () => {
    assert.equal(at({ uiPort: 1880, httpNodeRoot: false }), undefined);
    assert.equal(at({}), undefined);
  });
});
