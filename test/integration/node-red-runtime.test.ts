import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from '../support/net';
import { ADMIN_AUTH, adminToken, startRuntime } from '../support/runtime';
import type { Runtime } from '../support/runtime';

/** Node-RED's own start-up warnings on a fresh user directory; anything else in the log is ours to fix. */
const CORE_STARTUP_WARNINGS = [/Projects disabled/, /Encrypted credentials not found/];

describe('the pack in a real Node-RED runtime (the way npm start runs it)', function () {
  this.timeout(60_000);
  let runtime: Runtime;
  const call: Runtime['call'] = (...args) => runtime.call(...args);
  const token = (username: 'admin' | 'viewer'): Promise<string> => adminToken(runtime, username);

  before(async () => {
    runtime = await startRuntime(ADMIN_AUTH);
  });
  after(() => runtime?.stop());

  it('loads every node set of the pack without an error or a warning', async () => {
    const nodes = (await call('GET', '/nodes', { token: await token('admin') })).json() as unknown as Array<{ id: string; enabled: boolean; err?: string }>;
    const ours = nodes.filter((set) => set.id.startsWith('node-red-contrib-image-gen/'));
    const declared = Object.keys(
      (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { 'node-red': { nodes: object } })['node-red'].nodes,
    );
    assert.deepEqual(ours.map((set) => set.id.split('/')[1]).sort(), declared.sort());
    for (const set of ours) {
      assert.equal(set.enabled, true);
      assert.equal(set.err, undefined, `${set.id}: ${set.err}`);
    }
    const problems = runtime
      .log()
      .split('\n')
      .filter((line) => /\[(warn|error)\]/.test(line) && !CORE_STARTUP_WARNINGS.some((known) => known.test(line)));
    assert.deepEqual(problems, []);
  });

  it("serves the editors' shared script from the pack's resources folder", async () => {
    const script = await call('GET', '/resources/node-red-contrib-image-gen/editor.js');
    assert.equal(script.status, 200);
    assert.match(String(script.headers['content-type']), /javascript/);
    assert.match(script.text, /window\.ImageGenEditor = \{/);
  });

  it('refuses the save-image gallery and preview endpoints to a caller without a token', async () => {
    for (const route of [
      '/image-gen/save-image/any/gallery',
      '/image-gen/save-image/any/preview',
      '/image-gen/pixeldojo/models?provider=any',
      '/image-gen/local-sd/models',
      '/image-gen/local-sd/status',
    ]) {
      assert.equal((await call('GET', route)).status, 401, route);
    }
    // Loading a model starts a process and takes memory: it needs write permission.
    assert.equal((await call('POST', '/image-gen/local-sd/load_model', { body: { model: 'sandbox-tiny-sd' } })).status, 401);
    assert.equal((await call('POST', '/image-gen/local-sd/load_model', { body: { model: 'sandbox-tiny-sd' }, token: await token('viewer') })).status, 401);
    assert.equal((await call('GET', '/image-gen/local-sd/models', { token: await token('viewer') })).status, 200);
    assert.equal((await call('GET', '/image-gen/save-image/any/gallery', { token: await token('viewer') })).status, 404, 'a reader may list galleries');
  });

  it('refuses the connection-test endpoint to a caller without permission', async () => {
    const body = { kind: 'sandbox' };
    assert.equal((await call('POST', '/image-gen/provider-config/test', { body })).status, 401);
    assert.equal((await call('POST', '/image-gen/provider-config/test', { body, token: await token('viewer') })).status, 401);
    const allowed = await call('POST', '/image-gen/provider-config/test', { body, token: await token('admin') });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.json().ok, true);
  });

  it('keeps credentials out of the exported flow, the flow file and the credential API', async () => {
    const admin = await token('admin');
    const apiKey = 'pd-live-key-7f3a9c21';
    const accountId = 'cf-account-55aa66bb';
    const deployed = await call('POST', '/flows', {
      token: admin,
      headers: { 'node-red-deployment-type': 'full' },
      body: [
        { id: 'tab1', type: 'tab', label: 'Flow 1' },
        { id: 'pc1', type: 'provider-config', name: 'real', kind: 'pixeldojo', credentials: { apiKey } },
        { id: 'pc2', type: 'provider-config', name: 'cf', kind: 'cloudflare', credentials: { apiKey, accountId } },
      ],
    });
    assert.equal(deployed.status, 204, deployed.text);
    const exported = await call('GET', '/flows', { token: admin });
    assert.ok(exported.text.includes('"pc1"'));
    assert.ok(!exported.text.includes(apiKey) && !exported.text.includes(accountId));
    await waitFor(() => fs.existsSync(path.join(runtime.userDir, 'flows_cred.json')), 5000, 'credentials file');
    assert.ok(!fs.readFileSync(path.join(runtime.userDir, 'flows.json'), 'utf8').includes(apiKey));
    assert.ok(!fs.readFileSync(path.join(runtime.userDir, 'flows_cred.json'), 'utf8').includes(apiKey), 'credentials are encrypted at rest');
    const credentials = (await call('GET', '/credentials/provider-config/pc1', { token: admin })).json();
    assert.deepEqual(credentials, { has_apiKey: true, accountId: '', has_webhookKey: false });
    assert.ok(!runtime.log().includes(apiKey), 'the key never reaches the log');
  });
});
