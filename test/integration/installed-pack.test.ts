import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ONNXRUNTIME_CPU_INSTALL } from '../../lib/local/runner-protocol';
import { REPO_ROOT } from '../../scripts/node-red-home';
import { installedPack, packedPack } from '../support/installed-pack';
import type { PackedPack } from '../support/installed-pack';
import { waitFor } from '../support/net';
import { catchAll, injectNode, logDebug, onTab, startInstalledRuntime, tinyLocalSd } from '../support/runtime';
import type { Runtime } from '../support/runtime';

const run = promisify(execFile);
const packageJson = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  'node-red': { nodes: Record<string, string> };
  repository?: { url?: string };
  bugs?: { url?: string };
  homepage?: string;
};
/** Node-RED's own start-up lines on a new user directory with default settings; anything else is ours to fix. */
const CORE_STARTUP_WARNINGS = [
  /Projects disabled/,
  /Encrypted credentials not found/,
  // The first line of Node-RED's banner about the credential key it generated (the banner's text follows on plain lines).
  /\[warn\]\s*$/,
];

describe('the pack installed from its npm tarball into a Node-RED with default settings', function () {
  this.timeout(240_000);
  let pack: PackedPack;
  let runtime: Runtime;
  before(async () => {
    pack = await packedPack();
    runtime = await startInstalledRuntime();
  });
  after(() => runtime?.stop());

  describe('the tarball', () => {
    let files: string[];
    before(async () => {
      files = (await run('tar', ['-tzf', pack.tarball])).stdout
        .split('\n')
        .filter(Boolean)
        .map((entry) => entry.replace(/^package\//, ''));
    });

    it("holds the licence, each node's runtime, editor, locales and icon, the examples, and no source map or test", () => {
      assert.ok(files.includes('LICENSE'));
      assert.match(fs.readFileSync(path.join(REPO_ROOT, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
      for (const [type, file] of Object.entries(packageJson['node-red'].nodes)) {
        const dir = path.dirname(file);
        for (const needed of [
          file,
          `${dir}/${type}.html`,
          `${dir}/locales/en-US/${type}.json`,
          `${dir}/locales/en-US/${type}.html`,
          `${dir}/icons/image-gen.svg`,
        ]) {
          assert.ok(files.includes(needed), `the tarball lacks ${needed}`);
        }
      }
      for (const example of fs.readdirSync(path.join(REPO_ROOT, 'examples'))) assert.ok(files.includes(`examples/${example}`), example);
      assert.deepEqual(
        files.filter((file) => file.endsWith('.map') || file.includes('/test/') || file.endsWith('.ts')),
        [],
      );
    });

    it('names its repository, bug tracker and home page', () => {
      assert.match(packageJson.repository?.url ?? '', /^git\+https:\/\//);
      assert.match(packageJson.bugs?.url ?? '', /^https:\/\//);
      assert.match(packageJson.homepage ?? '', /^https:\/\//);
    });

    it("packs and installs without an npm warning from the project's own config", async () => {
      for (const log of [pack.packLog, (await installedPack({ onnxruntime: false })).installLog]) {
        // This machine's own ~/.npmrc may carry settings npm warns about; the project's config must not.
        assert.doesNotMatch(log, /Unknown project config/i);
      }
    });
  });

  describe("local-sd from the palette manager's install", () => {
    let bare: Runtime | undefined;
    after(() => bare?.stop());

    it('installs without onnxruntime-node, and local-sd gives a command that installs it without fetching CUDA files', async () => {
      const { userDir } = await installedPack({ onnxruntime: false });
      // Nothing outside npm is fetched by a palette install: onnxruntime-node's own install script would fetch CUDA files.
      assert.ok(!fs.existsSync(path.join(userDir, 'node_modules', 'onnxruntime-node')));
      bare = await startInstalledRuntime({ onnxruntime: false });
      assert.equal((await bare.call('GET', '/image-gen/local-sd/models')).json().onnxruntime_installed, false);
      const tab = 'no-ort';
      await bare.deploy([
        { id: tab, type: 'tab', label: tab },
        ...onTab(tab, [
          injectNode('go', 'a cat', ['sd']),
          tinyLocalSd('sd', { width: 64, height: 64 }, []),
          catchAll('c', 'bad'),
          logDebug('bad', 'caught', 'error'),
        ]),
      ]);
      const logStart = bare.log().length;
      await bare.press('go');
      await waitFor(() => bare?.log().slice(logStart).includes('[debug:caught]'), 20_000, 'the error');
      assert.ok(bare.log().slice(logStart).includes(ONNXRUNTIME_CPU_INSTALL), bare.log().slice(logStart));
    });

    it('runs local-sd once that command has been run in the user directory', async () => {
      // installedPack({ onnxruntime: true }) ran ONNXRUNTIME_CPU_INSTALL after installing the tarball; `runtime` uses it.
      const answer = await runtime.call('GET', '/image-gen/local-sd/models');
      assert.equal(answer.json().onnxruntime_installed, true, (await installedPack({ onnxruntime: true })).installLog);
      const tab = 'with-ort';
      await runtime.deploy([
        { id: tab, type: 'tab', label: tab },
        ...onTab(tab, [
          injectNode('go', 'a cat', ['sd']),
          tinyLocalSd('sd', { width: 64, height: 64, num_inference_steps: 2 }, ['ok']),
          logDebug('ok', 'local image', 'job'),
          catchAll('c', 'bad'),
          logDebug('bad', 'caught', 'error'),
        ]),
      ]);
      const logStart = runtime.log().length;
      await runtime.press('go');
      await waitFor(() => /\[debug:(local image|caught)\]/.test(runtime.log().slice(logStart)), 60_000, 'the local image');
      assert.ok(runtime.log().slice(logStart).includes('[debug:local image]'), runtime.log().slice(logStart));
    });
  });

  it("loads every node set with Node-RED's default settings, with no warning of the pack's own", async () => {
    const nodes = (await runtime.call('GET', '/nodes')).json() as unknown as Array<{ id: string; enabled: boolean; err?: string; module: string }>;
    const ours = nodes.filter((set) => set.module === packageJson.name);
    assert.deepEqual(ours.map((set) => set.id.split('/')[1]).sort(), Object.keys(packageJson['node-red'].nodes).sort());
    for (const set of ours) assert.equal(set.err, undefined, `${set.id}: ${set.err}`);
    const settings = fs.readFileSync(path.join(runtime.userDir, 'settings.js'), 'utf8');
    assert.match(settings, /module\.exports/, 'Node-RED wrote its default settings.js');
    assert.doesNotMatch(settings, /^\s*httpAdminRoot:/m, 'the admin API is at the default root, shared with http in');
    const problems = runtime
      .log()
      .split('\n')
      .filter((line) => /\[(warn|error)\]/.test(line) && !CORE_STARTUP_WARNINGS.some((known) => known.test(line)));
    assert.deepEqual(problems, []);
  });

  for (const { provider, node } of [
    { provider: 'PiAPI', node: { type: 'piapi-task', model: 'Qubico/flux1-schnell', taskType: 'txt2img', params: {} } },
    { provider: 'PixelDojo', node: { type: 'flux-generate', endpoint: 'jobs', model: 'flux-dev', params: {} } },
  ]) {
    it(`completes a ${provider} job by webhook in under 5 s, with polling held back for 60 s`, async () => {
      const tab = `webhook-${node.type}`;
      await runtime.deploy([
        { id: tab, type: 'tab', label: tab },
        // The sandbox calls back over loopback when the Webhook URL is empty, on whatever port Node-RED has.
        { id: 'cfg', type: 'provider-config', name: 'sandbox', kind: 'sandbox', webhookBaseUrl: '', webhookGrace: '60' },
        { id: 'hook', type: 'job-webhook', z: tab, x: 100, y: 40, path: '/image-gen/webhook', wires: [[]] },
        { ...injectNode('go', 'a paper boat', ['gen']), z: tab, x: 100, y: 100 },
        { id: 'gen', z: tab, x: 300, y: 100, provider: 'cfg', prompt: '', completion: 'webhook', download: false, ...node, wires: [['done']] },
        {
          id: 'done',
          type: 'debug',
          z: tab,
          x: 500,
          y: 100,
          name: `${provider} by webhook`,
          active: true,
          console: true,
          tosidebar: false,
          complete: 'job',
          wires: [],
        },
        { id: 'c', type: 'catch', z: tab, x: 100, y: 160, scope: null, wires: [['bad']] },
        { id: 'bad', type: 'debug', z: tab, x: 300, y: 160, name: 'caught', active: true, console: true, tosidebar: false, complete: 'error', wires: [] },
      ]);
      const logStart = runtime.log().length;
      await runtime.press('go');
      const pressedAt = Date.now();
      await waitFor(
        () => runtime.log().slice(logStart).includes(`[debug:${provider} by webhook]`) || runtime.log().slice(logStart).includes('[debug:caught]'),
        5_000,
        `the ${provider} job by webhook`,
      );
      const fresh = runtime.log().slice(logStart);
      assert.ok(!fresh.includes('[debug:caught]'), fresh);
      assert.ok(Date.now() - pressedAt < 5_000);
      assert.match(fresh, /status: 'completed'|"status":"completed"/);
    });
  }
});
