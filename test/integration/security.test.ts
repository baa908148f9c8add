import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { startSandbox } from '../../lib/sandbox';
import type { SandboxServer } from '../../lib/sandbox';
import { REPO_ROOT } from '../../scripts/node-red-home';
import { waitFor } from '../support/net';
import { ADMIN_AUTH, adminToken, startRuntime } from '../support/runtime';
import type { Runtime } from '../support/runtime';

/** Every admin endpoint of the pack, with the permission it needs. The test below checks this list is complete. */
const ADMIN_ROUTES: Array<{ method: 'GET' | 'POST'; route: string; needs: 'read' | 'write'; body?: unknown }> = [
  { method: 'GET', route: '/image-gen/provider-config/pd/status', needs: 'read' },
  { method: 'POST', route: '/image-gen/provider-config/test', needs: 'write', body: { kind: 'sandbox' } },
  { method: 'GET', route: '/image-gen/save-image/any/preview', needs: 'read' },
  { method: 'GET', route: '/image-gen/save-image/any/gallery', needs: 'read' },
  { method: 'GET', route: '/image-gen/local-sd/models', needs: 'read' },
  { method: 'GET', route: '/image-gen/local-sd/status', needs: 'read' },
  { method: 'POST', route: '/image-gen/local-sd/load_model', needs: 'write', body: { model: 'none' } },
  { method: 'GET', route: '/image-gen/pixeldojo/models?provider=pd', needs: 'read' },
  { method: 'GET', route: '/image-gen/leonardo/models?provider=pd', needs: 'read' },
  { method: 'GET', route: '/image-gen/pixeldojo/parameters?provider=pd&model=flux-dev', needs: 'read' },
  { method: 'GET', route: '/image-gen/local-sd/gallery?provider=pd', needs: 'read' },
  { method: 'GET', route: '/image-gen/overview', needs: 'read' },
  { method: 'POST', route: '/image-gen/flux-generate/check', needs: 'read', body: { provider: 'pd', settings: {} } },
  { method: 'POST', route: '/image-gen/piapi-task/check', needs: 'read', body: { provider: 'pd', settings: {} } },
  { method: 'POST', route: '/image-gen/leonardo-generate/check', needs: 'read', body: { provider: 'pd', settings: {} } },
  { method: 'POST', route: '/image-gen/workers-ai/check', needs: 'read', body: { provider: 'pd', settings: {} } },
  { method: 'POST', route: '/image-gen/local-sd/check', needs: 'read', body: { settings: {} } },
];

// Long and unlike anything else, so a match anywhere is a leak; their encoded forms are searched too.
const API_KEY = 'pk-live-3f9a1c7e5b2d4086a1b3c5d7e9f10203';
const ACCOUNT_ID = 'acct-77c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5';
const WEBHOOK_KEY = 'whk-9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b';

function forms(secret: string): string[] {
  return [
    secret,
    encodeURIComponent(secret),
    Buffer.from(secret).toString('base64'),
    Buffer.from(secret).toString('base64url'),
    Buffer.from(secret).toString('hex'),
  ];
}

function leaks(text: string): string[] {
  return [API_KEY, ACCOUNT_ID, WEBHOOK_KEY].flatMap(forms).filter((form) => text.includes(form));
}

/** The text of every file under a directory but the encrypted credentials, with its path. */
function filesUnder(directory: string): Array<[string, string]> {
  return fs.readdirSync(directory, { recursive: true, withFileTypes: true }).flatMap((entry) => {
    const file = path.join(entry.parentPath, entry.name);
    if (!entry.isFile() || entry.name === 'flows_cred.json' || file.includes(`${path.sep}node_modules${path.sep}`)) return [];
    return [[file, fs.readFileSync(file).toString('latin1')] as [string, string]];
  });
}

describe('security: credentials stay secret and admin endpoints stay guarded, in a real Node-RED with adminAuth', function () {
  this.timeout(120_000);
  let runtime: Runtime;
  let sandbox: SandboxServer;
  let collector: ReturnType<typeof createServer>;
  const collected: string[] = [];
  let admin: string;

  before(async () => {
    sandbox = await startSandbox({ apiKey: API_KEY, accountId: ACCOUNT_ID, jobDurationMs: 300 });
    collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        collected.push(Buffer.concat(chunks).toString('utf8'));
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    runtime = await startRuntime(ADMIN_AUTH);
    admin = await adminToken(runtime, 'admin');
  });
  after(async () => {
    await runtime?.stop();
    await sandbox?.close();
    collector?.close();
  });

  it('lists every admin endpoint the pack registers, each through adminRoute', () => {
    const registered = new Set<string>();
    const sources = ['nodes', 'plugins'].flatMap((group) =>
      fs
        .readdirSync(path.join(REPO_ROOT, group), { recursive: true, encoding: 'utf8' })
        .filter((file) => file.endsWith('.ts'))
        .map((file) => path.join(group, file)),
    );
    for (const file of sources) {
      const source = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8').replace(/\s+/g, ' ');
      for (const [, method, route] of source.matchAll(/adminRoute\( ?RED, '(get|post)', '([^']+)'/g)) registered.add(`${method?.toUpperCase()} ${route}`);
      // Every endpoint goes through the one helper that guards it and answers errors in one shape.
      if (file !== path.join('nodes', 'shared', 'admin.ts'))
        assert.doesNotMatch(source, /RED\.httpAdmin\./, `${file} registers an admin route without adminRoute`);
    }
    const listed = new Set(ADMIN_ROUTES.map(({ method, route }) => `${method} ${route.replace(/\?.*$/, '').replace(/\/(pd|any)\//, '/:id/')}`));
    assert.deepEqual([...registered].sort(), [...listed].sort());
  });

  it('refuses every admin endpoint to anonymous callers, and the write ones to read-only callers', async () => {
    const viewer = await adminToken(runtime, 'viewer');
    for (const { method, route, needs, body } of ADMIN_ROUTES) {
      assert.equal((await runtime.call(method, route, { body })).status, 401, `anonymous ${method} ${route}`);
      const asViewer = (await runtime.call(method, route, { body, token: viewer })).status;
      if (needs === 'write') assert.equal(asViewer, 401, `read-only ${method} ${route}`);
      else assert.notEqual(asViewer, 401, `read-only ${method} ${route}`);
      assert.notEqual((await runtime.call(method, route, { body, token: admin })).status, 401, `admin ${method} ${route}`);
    }
  });

  it('keeps the key, account id and webhook key out of flows, messages, status, logs, errors, admin answers and every file it writes', async () => {
    const collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/`;
    const credentials = { apiKey: API_KEY, accountId: ACCOUNT_ID, webhookKey: WEBHOOK_KEY };
    const config = (id: string, kind: string, api: 'pixeldojo' | 'piapi' | 'cloudflare' | 'workers-ai' | 'leonardo' | 'bfl') => ({
      id,
      type: 'provider-config',
      name: `${kind} config`,
      kind,
      baseUrl: sandbox.baseUrl(api),
      budget: '100',
      credentials,
    });
    const generators = [
      { id: 'gen.flux', type: 'flux-generate', provider: 'pd', endpoint: 'flux', model: 'flux-pro', completion: 'wait' },
      { id: 'gen.jobs', type: 'flux-generate', provider: 'pd', endpoint: 'jobs', model: 'flux-dev', completion: 'job' },
      { id: 'gen.piapi', type: 'piapi-task', provider: 'pi', model: 'Qubico/flux1-schnell', taskType: 'txt2img', completion: 'wait' },
      { id: 'gen.rest', type: 'workers-ai', provider: 'cf', endpoint: 'rest', model: '@cf/black-forest-labs/flux-1-schnell' },
      { id: 'gen.worker', type: 'workers-ai', provider: 'wk', endpoint: 'worker', model: '@cf/black-forest-labs/flux-1-schnell' },
      { id: 'gen.leonardo', type: 'leonardo-generate', provider: 'leo', model: '', completion: 'wait' },
      { id: 'gen.bfl', type: 'flux-generate', provider: 'bfl', endpoint: 'bfl', model: 'flux-pro-1.1', completion: 'wait' },
    ];
    const everything = (id: string) => ({
      id,
      type: 'change',
      z: 'tab',
      rules: [
        { t: 'set', p: 'payload', pt: 'msg', to: '$sift($$, function($value, $key) { $key != "payload" })', tot: 'jsonata' },
        { t: 'delete', p: 'headers', pt: 'msg' },
      ],
      wires: [['post']],
    });
    await runtime
      .call('POST', '/flows', {
        token: admin,
        headers: { 'node-red-deployment-type': 'full' },
        body: [
          { id: 'tab', type: 'tab', label: 'security' },
          config('pd', 'pixeldojo', 'pixeldojo'),
          config('pi', 'piapi', 'piapi'),
          config('cf', 'cloudflare', 'cloudflare'),
          config('wk', 'workers-ai', 'workers-ai'),
          config('leo', 'leonardo', 'leonardo'),
          config('bfl', 'bfl', 'bfl'),
          ...generators.map((node) => ({ ...node, z: 'tab', prompt: '', params: {}, download: false, wires: [[node.id === 'gen.jobs' ? 'poll' : 'out']] })),
          ...generators.map((node) => ({ id: `inject.${node.id}`, type: 'inject', z: 'tab', payload: 'a lighthouse', payloadType: 'str', wires: [[node.id]] })),
          { id: 'poll', type: 'job-poll', z: 'tab', provider: 'pd', initialDelay: '100', maxDelay: '300', timeout: '20000', wires: [['out']] },
          everything('out'),
          { id: 'on.error', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['failed']] },
          everything('failed'),
          { id: 'on.status', type: 'status', z: 'tab', scope: null, wires: [['statuses']] },
          everything('statuses'),
          { id: 'post', type: 'http request', z: 'tab', method: 'POST', ret: 'txt', url: collectorUrl, paytoqs: 'ignore', wires: [] },
        ],
      })
      .then((answer) => assert.equal(answer.status, 204, answer.text));
    const fire = async (id: string) => {
      const before = collected.length;
      // Just after a deploy the inject node may not be started yet (404): nothing was sent then.
      let answer = await runtime.call('POST', `/inject/inject.${id}`, { token: admin });
      for (let tries = 0; answer.status === 404 && tries < 100; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        answer = await runtime.call('POST', `/inject/inject.${id}`, { token: admin });
      }
      assert.equal(answer.status, 200, answer.text);
      await waitFor(() => collected.slice(before).some((text) => /"images"|"error"/.test(text)), 20_000, `the outcome of ${id}`).catch((error: Error) => {
        throw new Error(`${error.message}\n${collected.slice(before).join('\n')}\n${runtime.log().slice(-2000)}`);
      });
    };
    // Successes first, then each generator again against a provider whose errors echo the credentials back.
    for (const { id } of generators) await fire(id);
    for (const status of [401, 500]) {
      sandbox.injectFault({
        method: 'POST',
        times: generators.length,
        fault: { type: 'status', status, body: { error: `bad key ${API_KEY} for account ${ACCOUNT_ID}`, message: `${API_KEY}` } },
      });
      for (const { id } of generators) await fire(id);
      sandbox.faults.clear();
    }
    // The connection test, with the saved key against a provider that echoes it.
    sandbox.injectFault({ fault: { type: 'status', status: 403, body: { error: `forbidden for ${API_KEY}` } }, times: 10 });
    const tested = await runtime.call('POST', '/image-gen/provider-config/test', {
      token: admin,
      body: { id: 'pd', kind: 'pixeldojo', baseUrl: sandbox.baseUrl('pixeldojo'), apiKey: '__PWRD__' },
    });
    sandbox.faults.clear();

    const keyed = sandbox.requests.filter((entry) => JSON.stringify(entry.headers).includes(API_KEY));
    assert.ok(keyed.length >= generators.length * 3, 'the key was sent to the providers (the test would prove nothing otherwise)');
    assert.ok(
      collected.some((text) => /"images"/.test(text)) && collected.some((text) => /HTTP 401/.test(text)) && collected.some((text) => /HTTP 500/.test(text)),
    );
    const answers = await Promise.all(
      ['/flows', '/image-gen/provider-config/pd/status', '/image-gen/pixeldojo/models?provider=pd', '/nodes', '/settings'].map((route) =>
        runtime.call('GET', route, { token: admin }),
      ),
    );
    // The account id is a text credential: the config dialog shows it to an admin, as Node-RED does for such fields; the key, never.
    const stored = await runtime.call('GET', '/credentials/provider-config/cf', { token: admin });
    assert.deepEqual(stored.json(), { has_apiKey: true, accountId: ACCOUNT_ID, has_webhookKey: true });
    const places: Array<[string, string]> = [
      ['the log', runtime.log()],
      ['the connection test answer', tested.text],
      ...answers.map((answer, index) => [`admin answer ${index}`, answer.text] as [string, string]),
      ...collected.map((text, index) => [`message ${index} (result, error or status)`, text] as [string, string]),
      ...filesUnder(runtime.userDir),
    ];
    for (const [place, text] of places) assert.deepEqual(leaks(text), [], `a credential in ${place}: ${text.slice(0, 300)}`);
    assert.ok(filesUnder(runtime.userDir).some(([file]) => file.endsWith('flows.json')));
  });
});
