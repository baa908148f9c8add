import assert from 'node:assert/strict';
import { z } from 'zod';
import { ProviderConfigError, ProviderConnection } from '../../../lib/providers';
import { SANDBOX_ACCOUNT_ID, SANDBOX_API_KEY, startSandbox } from '../../../lib/sandbox';
import type { SandboxServer } from '../../../lib/sandbox';
import { freePort, rejectionOf } from '../../support/net';

describe('lib/providers ProviderConnection', () => {
  const open: ProviderConnection[] = [];
  function connect(config: Record<string, unknown>, credentials: Record<string, string> = {}): ProviderConnection {
    const connection = new ProviderConnection({ name: 'test', config, credentials, retry: { maxRetries: 0 } });
    open.push(connection);
    return connection;
  }
  afterEach(async () => {
    await Promise.all(open.splice(0).map((connection) => connection.close()));
  });

  describe('the sandbox kind', () => {
    it('calls back this Node-RED over loopback when no Webhook URL is set, and only the sandbox does', () => {
      const loopbackNodeUrl = 'http://127.0.0.1:41880/red';
      const make = (config: Record<string, unknown>, credentials: Record<string, string> = {}) => {
        const connection = new ProviderConnection({ name: 'test', config, credentials, loopbackNodeUrl });
        open.push(connection);
        return connection;
      };
      assert.equal(make({ kind: 'sandbox' }).webhookBaseUrl, loopbackNodeUrl);
      assert.equal(make({ kind: 'sandbox', webhookBaseUrl: 'https://public.example.com' }).webhookBaseUrl, 'https://public.example.com');
      assert.equal(make({ kind: 'piapi' }, { apiKey: 'k' }).webhookBaseUrl, '', 'a real provider cannot reach loopback');
    });

    it('serves every API with no key, on its own loopback port', async () => {
      const connection = connect({ kind: 'sandbox' });
      const pixeldojo = await connection.client('pixeldojo');
      const jobs = await pixeldojo.json({ method: 'GET', path: 'jobs', intent: 'read' }, z.object({ jobs: z.array(z.unknown()) }));
      assert.deepEqual(jobs.jobs, []);
      const piapi = await connection.client('piapi');
      const error = await rejectionOf(piapi.send({ method: 'GET', path: 'task/none', intent: 'read' }));
      assert.match(error.message, /HTTP 404/);
      const sandbox = await connection.sandbox();
      assert.match(sandbox.origin, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(sandbox.requestsTo('pixeldojo')[0].headers.authorization, `Bearer ${SANDBOX_API_KEY}`);
      assert.equal(sandbox.requestsTo('piapi')[0].headers['x-api-key'], SANDBOX_API_KEY);
      assert.deepEqual(await connection.testAccess(), { ok: true, message: `the sandbox is running at ${sandbox.origin}; no credits are spent` });
    });

    it('stops its sandbox on close', async () => {
      const connection = connect({ kind: 'sandbox' });
      const origin = (await connection.sandbox()).origin;
      await connection.close();
      await assert.rejects(fetch(origin));
      await assert.rejects(connection.client('pixeldojo'), /was closed/);
    });
  });

  describe('misconfiguration', () => {
    it('refuses to build a client without the credentials the kind needs, saying what to do', async () => {
      const error = await rejectionOf(connect({ kind: 'pixeldojo' }).client('pixeldojo'));
      assert.ok(error instanceof ProviderConfigError);
      assert.match(error.message, /provider config "test": a PixelDojo API key is required: paste it into the provider config/);
    });

    it('refuses a node of another provider', async () => {
      const error = await rejectionOf(connect({ kind: 'piapi' }, { apiKey: 'k' }).client('pixeldojo'));
      assert.match(error.message, /needs a PixelDojo provider config, but "test" is PiAPI/);
    });

    it('reports the problem from testAccess instead of calling out', async () => {
      assert.deepEqual(await connect({ kind: 'cloudflare' }, { apiKey: 'k' }).testAccess(), {
        ok: false,
        message: 'provider config "test": a Cloudflare account id is required',
      });
    });
  });

  describe('testAccess against the emulators', () => {
    let sandbox: SandboxServer;
    before(async () => {
      sandbox = await startSandbox();
    });
    after(async () => {
      await sandbox.close();
    });

    const cases: Array<[string, () => [Record<string, unknown>, Record<string, string>], boolean, RegExp]> = [
      ['PixelDojo with a good key', () => [{ kind: 'pixeldojo', baseUrl: sandbox.baseUrl('pixeldojo') }, { apiKey: SANDBOX_API_KEY }], true, /accepted/],
      [
        'PixelDojo with a bad key',
        () => [{ kind: 'pixeldojo', baseUrl: sandbox.baseUrl('pixeldojo') }, { apiKey: 'wrong-key' }],
        false,
        /key was refused.*HTTP 401 unauthorized/,
      ],
      ['PiAPI with a good key', () => [{ kind: 'piapi', baseUrl: sandbox.baseUrl('piapi') }, { apiKey: SANDBOX_API_KEY }], true, /accepted/],
      [
        'PiAPI with a bad key',
        () => [{ kind: 'piapi', baseUrl: sandbox.baseUrl('piapi') }, { apiKey: 'wrong-key' }],
        false,
        /key was refused.*1200.*check the API key/,
      ],
      [
        'Cloudflare with a good token and account',
        () => [
          { kind: 'cloudflare', baseUrl: sandbox.baseUrl('cloudflare') },
          { apiKey: SANDBOX_API_KEY, accountId: SANDBOX_ACCOUNT_ID },
        ],
        true,
        /token and the account id/,
      ],
      [
        'Cloudflare with a wrong account',
        () => [
          { kind: 'cloudflare', baseUrl: sandbox.baseUrl('cloudflare') },
          { apiKey: SANDBOX_API_KEY, accountId: 'not-mine' },
        ],
        false,
        /wrong account.*7003/,
      ],
      [
        'Cloudflare with a bad token',
        () => [
          { kind: 'cloudflare', baseUrl: sandbox.baseUrl('cloudflare') },
          { apiKey: 'wrong-key', accountId: SANDBOX_ACCOUNT_ID },
        ],
        false,
        /key was refused/,
      ],
      ['a Workers AI worker', () => [{ kind: 'workers-ai', baseUrl: sandbox.baseUrl('workers-ai') }, {}], true, /worker answers/],
    ];
    for (const [label, setup, ok, message] of cases) {
      it(`says so for ${label}`, async () => {
        const [config, credentials] = setup();
        const report = await connect(config, credentials).testAccess();
        assert.equal(report.ok, ok, report.message);
        assert.match(report.message, message);
        assert.ok(!report.message.includes('wrong-key'));
      });
    }

    it('says a provider is unreachable, and spends nothing generating', async () => {
      const report = await connect({ kind: 'pixeldojo', baseUrl: `http://127.0.0.1:${await freePort()}` }, { apiKey: 'k-123456' }).testAccess();
      assert.equal(report.ok, false);
      assert.match(report.message, /^unreachable: could not connect/);
      const paid = sandbox.requests.filter((entry) => entry.method === 'POST');
      assert.deepEqual(paid, []);
    });
  });
});
