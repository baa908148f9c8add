import assert from 'node:assert/strict';
import { z } from 'zod';
import type { ProviderConnection } from '../../../lib/providers';
import { SANDBOX_API_KEY, startSandbox } from '../../../lib/sandbox';
import type { SandboxServer } from '../../../lib/sandbox';
import { helper, nodeModule } from '../../support/node-red';

const providerConfig = nodeModule('provider-config');
const jobsSchema = z.object({ jobs: z.array(z.unknown()) });

describe('provider-config node', () => {
  let sandbox: SandboxServer;
  before(async () => {
    sandbox = await startSandbox();
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
    await sandbox.close();
  });
  afterEach(async () => {
    await helper.unload();
  });

  const connectionOf = (id: string) => helper.getNode(id).connection as ProviderConnection;

  it('loads a sandbox config with no key, and its connection generates offline', async () => {
    await helper.load(providerConfig, [{ id: 'p1', type: 'provider-config', name: 'offline', kind: 'sandbox' }]);
    const connection = connectionOf('p1');
    const client = await connection.client('pixeldojo');
    assert.deepEqual((await client.json({ method: 'GET', path: 'jobs', intent: 'read' }, jobsSchema)).jobs, []);
    assert.equal(connection.label, 'Sandbox (offline)');
  });

  it('keeps the key in credentials, where the connection uses it', async () => {
    const before = sandbox.requests.length;
    await helper.load(providerConfig, [{ id: 'p1', type: 'provider-config', kind: 'pixeldojo', baseUrl: sandbox.baseUrl('pixeldojo'), rpm: '30' }], {
      p1: { apiKey: SANDBOX_API_KEY },
    });
    const node = helper.getNode('p1');
    assert.equal(node.credentials.apiKey, SANDBOX_API_KEY);
    assert.equal(connectionOf('p1').settings?.rpm, 30);
    await (await connectionOf('p1').client('pixeldojo')).json({ method: 'GET', path: 'jobs', intent: 'read' }, jobsSchema);
    assert.equal(sandbox.requests[before].headers.authorization, `Bearer ${SANDBOX_API_KEY}`);
  });

  it('loads a config missing its key without failing, warning what to fix', async () => {
    await helper.load(providerConfig, [{ id: 'p1', type: 'provider-config', name: 'mine', kind: 'piapi' }]);
    const node = helper.getNode('p1');
    assert.ok(node.warn.called);
    assert.match(String(node.warn.args[0][0]), /provider config "mine": a PiAPI API key is required/);
    await assert.rejects(connectionOf('p1').client('piapi'), /API key is required/);
  });

  it('stops its sandbox when the flow is stopped', async () => {
    await helper.load(providerConfig, [{ id: 'p1', type: 'provider-config', kind: 'sandbox' }]);
    const origin = (await connectionOf('p1').sandbox()).origin;
    await helper.unload();
    await assert.rejects(fetch(origin));
  });

  describe('the connection-test admin endpoint', () => {
    const test = (body: unknown) => helper.request().post('/image-gen/provider-config/test').send(body);

    it('reports the sandbox working with no key', async () => {
      const answer = await test({ kind: 'sandbox' });
      assert.equal(answer.status, 200);
      assert.equal((answer.body as { ok: boolean }).ok, true);
    });

    it('uses the stored key when the dialog did not change it, and reports a refused one', async () => {
      await helper.load(providerConfig, [{ id: 'p1', type: 'provider-config', kind: 'pixeldojo', baseUrl: sandbox.baseUrl('pixeldojo') }], {
        p1: { apiKey: SANDBOX_API_KEY },
      });
      const stored = await test({ id: 'p1', kind: 'pixeldojo', baseUrl: sandbox.baseUrl('pixeldojo'), apiKey: '__PWRD__' });
      assert.deepEqual(stored.body, { ok: true, message: 'PixelDojo accepted the API key' });
      const typed = await test({ id: 'p1', kind: 'pixeldojo', baseUrl: sandbox.baseUrl('pixeldojo'), apiKey: 'typed-but-wrong' });
      assert.equal((typed.body as { ok: boolean }).ok, false);
      assert.match((typed.body as { message: string }).message, /key was refused/);
      assert.ok(!typed.text.includes('typed-but-wrong'));
    });

    it('never sends the saved key to a base URL or provider the caller chose', async () => {
      await helper.load(providerConfig, [{ id: 'p1', type: 'provider-config', kind: 'pixeldojo', baseUrl: sandbox.baseUrl('pixeldojo') }], {
        p1: { apiKey: SANDBOX_API_KEY },
      });
      const elsewhere = await startSandbox();
      try {
        for (const body of [
          { id: 'p1', kind: 'pixeldojo', baseUrl: elsewhere.baseUrl('pixeldojo'), apiKey: '__PWRD__' },
          { id: 'p1', kind: 'pixeldojo', baseUrl: elsewhere.baseUrl('pixeldojo') },
          { id: 'p1', kind: 'piapi', baseUrl: elsewhere.baseUrl('piapi'), apiKey: '__PWRD__' },
        ]) {
          const answer = await test(body);
          assert.equal((answer.body as { ok: boolean }).ok, false);
          assert.match((answer.body as { message: string }).message, /saved key is sent only to the saved provider and base URL/);
        }
        assert.equal(elsewhere.requestsTo('pixeldojo').length + elsewhere.requestsTo('piapi').length, 0, 'nothing reached the other address');
        const typed = await test({ id: 'p1', kind: 'pixeldojo', baseUrl: elsewhere.baseUrl('pixeldojo'), apiKey: SANDBOX_API_KEY });
        assert.equal((typed.body as { ok: boolean }).ok, true, 'a key typed in the dialog may be tested anywhere');
      } finally {
        await elsewhere.close();
      }
    });

    it('explains an unusable config instead of calling out', async () => {
      const answer = await test({ kind: 'cloudflare', apiKey: 'k' });
      assert.deepEqual(answer.body, { ok: false, message: 'provider config "unsaved": a Cloudflare account id is required' });
    });
  });
});
