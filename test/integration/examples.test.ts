import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../scripts/node-red-home';
import { waitFor } from '../support/net';
import { startRuntime } from '../support/runtime';
import type { Runtime, RuntimeAnswer } from '../support/runtime';

interface FlowNode {
  id: string;
  type: string;
  name?: string;
  console?: boolean;
  complete?: string;
}

const examplesDir = path.join(REPO_ROOT, 'examples');
const examples = fs.readdirSync(examplesDir).filter((file) => file.endsWith('.json'));

/** Example flows that fail on purpose, to show a Catch node at work. */
const DELIBERATE_FAILURE = /\[sandbox:fail\]/;

/** Repeats a request until it answers 200: routes answer 404 until freshly deployed flows have started. */
async function untilOk(send: () => Promise<RuntimeAnswer>, what: string): Promise<RuntimeAnswer> {
  let answer = await send();
  for (const deadline = Date.now() + 10_000; answer.status === 404 && Date.now() < deadline; answer = await send()) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(answer.status, 200, `${what}: ${answer.text}`);
  return answer;
}

describe('examples/ in a real Node-RED runtime, offline against the sandbox', function () {
  this.timeout(90_000);
  let runtime: Runtime;
  before(async () => {
    runtime = await startRuntime();
  });
  after(() => runtime?.stop());

  it('has an example for every node the pack ships, except the config node', () => {
    const nodeTypes = Object.keys((JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { 'node-red': { nodes: object } })['node-red'].nodes);
    const used = new Set(examples.flatMap((file) => (JSON.parse(fs.readFileSync(path.join(examplesDir, file), 'utf8')) as FlowNode[]).map((node) => node.type)));
    for (const type of nodeTypes.filter((name) => name !== 'provider-config')) assert.ok(used.has(type), `no example uses ${type}`);
  });

  for (const file of examples) {
    it(`${file}: every inject produces output in every debug node, with no key and no unexpected error`, async () => {
      const flow = JSON.parse(fs.readFileSync(path.join(examplesDir, file), 'utf8')) as FlowNode[];
      const deployed = await runtime.call('POST', '/flows', { body: flow, headers: { 'node-red-deployment-type': 'full' } });
      assert.equal(deployed.status, 204, deployed.text);
      const logStart = runtime.log().length;
      for (const inject of flow.filter((node) => node.type === 'inject')) {
        await untilOk(() => runtime.call('POST', `/inject/${inject.id}`), `inject ${inject.id}`);
      }
      const fresh = () => runtime.log().slice(logStart);
      const failsOnPurpose = flow.some((node) => DELIBERATE_FAILURE.test(JSON.stringify(node)));
      // Result debug nodes must all print; the Catch node's debug prints only where the flow fails on purpose.
      const expected = flow.filter((node) => node.type === 'debug' && node.console && (node.complete !== 'error' || failsOnPurpose));
      await waitFor(() => expected.every((debug) => fresh().includes(`[debug:${debug.name}]`)), 60_000, `output from ${expected.map((debug) => debug.name).join(', ')}`);
      const unexpected = fresh()
        .split('\n')
        .filter((line) => /\[(warn|error)\]/.test(line) && !(failsOnPurpose && /job job_\w+ failed/.test(line)));
      assert.deepEqual(unexpected, []);
      for (const catcher of flow.filter((node) => node.type === 'debug' && node.complete === 'error' && !failsOnPurpose)) {
        assert.ok(!fresh().includes(`[debug:${catcher.name}]`), `${catcher.name} caught an error:\n${fresh()}`);
      }
    });
  }

  it('save-image.json answers GET /gallery with what it saved, newest first', async () => {
    const flow = JSON.parse(fs.readFileSync(path.join(examplesDir, 'save-image.json'), 'utf8')) as FlowNode[];
    await runtime.call('POST', '/flows', { body: flow, headers: { 'node-red-deployment-type': 'full' } });
    const logStart = runtime.log().length;
    await untilOk(() => runtime.call('POST', '/inject/si.inject'), 'inject');
    await waitFor(() => runtime.log().slice(logStart).includes('[debug:saved files]'), 30_000, 'the images to be saved');
    const answer = await untilOk(() => runtime.call('GET', '/gallery?limit=1&model=flux-pro'), 'GET /gallery');
    const listing = answer.json() as { total: number; images: Array<{ path: string; seed: number; prompt: string }> };
    assert.ok(listing.total >= 2);
    assert.equal(listing.images.length, 1);
    assert.equal(listing.images[0].prompt, 'a koi pond in autumn, ukiyo-e');
    assert.ok(fs.existsSync(path.join(runtime.userDir, 'images', 'examples', listing.images[0].path)));
  });

  it('starter.json answers GET /generate?prompt=... with the PNG, through http in and http response', async () => {
    const flow = JSON.parse(fs.readFileSync(path.join(examplesDir, 'starter.json'), 'utf8')) as FlowNode[];
    await runtime.call('POST', '/flows', { body: flow, headers: { 'node-red-deployment-type': 'full' } });
    const answer = await untilOk(() => runtime.call('GET', '/generate?prompt=a+red+fox', { headers: { accept: 'image/png' } }), 'GET /generate');
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.headers['content-type'], 'image/png');
    assert.deepEqual([...answer.body.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  });
});
