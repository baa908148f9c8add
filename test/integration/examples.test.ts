import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../scripts/node-red-home';
import { waitFor } from '../support/net';
import { startInstalledRuntime } from '../support/runtime';
import type { Runtime, RuntimeAnswer } from '../support/runtime';

interface FlowNode {
  id: string;
  type: string;
  name?: string;
  console?: boolean;
  complete?: string;
  x?: number;
  y?: number;
  url?: string;
  method?: string;
  preview?: boolean;
  maxSize?: string;
}

/** A good and a bad request for every `http in` route the examples serve, with what each must answer. */
const HTTP_CASES: Record<string, Array<{ method: 'GET' | 'POST'; route: string; body?: string; type?: string; status: number; answer: RegExp }>> = {
  '/generate': [
    { method: 'GET', route: '/generate?prompt=a+red+fox', status: 200, answer: /^image\/png/ },
    { method: 'GET', route: '/generate?prompt=', status: 400, answer: /prompt/ },
  ],
  '/gallery': [
    { method: 'GET', route: '/gallery?limit=1', status: 200, answer: /"images"/ },
    { method: 'GET', route: '/gallery?limit=lots', status: 400, answer: /limit/ },
  ],
  '/webhook-demo': [
    { method: 'POST', route: '/webhook-demo', body: 'a paper boat on a pond', type: 'text/plain', status: 200, answer: /^image\/png/ },
    { method: 'POST', route: '/webhook-demo', body: '{"size":"large"}', type: 'application/json', status: 400, answer: /prompt/ },
  ],
};

function readExample(file: string): FlowNode[] {
  return JSON.parse(fs.readFileSync(path.join(examplesDir, file), 'utf8')) as FlowNode[];
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

describe('examples/ in a Node-RED with default settings and the pack installed from its tarball, offline against the sandbox', function () {
  this.timeout(90_000);
  let runtime: Runtime;
  before(async () => {
    runtime = await startInstalledRuntime();
  });
  after(() => runtime?.stop());

  it('has an example for every node the pack ships, except the config node', () => {
    const nodeTypes = Object.keys(
      (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { 'node-red': { nodes: object } })['node-red'].nodes,
    );
    const used = new Set(
      examples.flatMap((file) => (JSON.parse(fs.readFileSync(path.join(examplesDir, file), 'utf8')) as FlowNode[]).map((node) => node.type)),
    );
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
      await waitFor(
        () => expected.every((debug) => fresh().includes(`[debug:${debug.name}]`)),
        60_000,
        `output from ${expected.map((debug) => debug.name).join(', ')}`,
      );
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

  it('share one sandbox config, the same node in every file, so importing a second example reuses it', () => {
    const configs = examples.flatMap((file) => readExample(file).filter((node) => node.type === 'provider-config'));
    assert.ok(configs.length >= 6);
    for (const config of configs) assert.deepEqual(config, configs[0]);
  });

  it('name no port, and leave room for the preview under each save-image node', () => {
    for (const file of examples) {
      assert.doesNotMatch(fs.readFileSync(path.join(examplesDir, file), 'utf8'), /:1880\b/, file);
      const flow = readExample(file);
      for (const save of flow.filter((node) => node.type === 'save-image' && node.preview !== false)) {
        assert.ok(Number(save.maxSize) > 0, `${file}: ${save.id} has a maximum size`);
        // The 96 px thumbnail is drawn from the node's left edge, below its status text.
        const covered = flow.filter(
          (node) =>
            node !== save &&
            node.x !== undefined &&
            Math.abs((node.x ?? 0) - (save.x ?? 0)) < 160 &&
            (node.y ?? 0) > (save.y ?? 0) &&
            (node.y ?? 0) < (save.y ?? 0) + 150,
        );
        assert.deepEqual(
          covered.map((node) => node.id),
          [],
          `${file}: nodes under ${save.id}'s preview`,
        );
      }
    }
  });

  it('answer every http in request within 10 s, a good one with the result and a bad one with 400 and what was wrong', async () => {
    const routes = examples.flatMap((file) =>
      readExample(file)
        .filter((node) => node.type === 'http in')
        .map((node) => ({ file, url: node.url as string })),
    );
    assert.deepEqual(routes.map((route) => route.url).sort(), Object.keys(HTTP_CASES).sort(), 'every http in route has its cases');
    for (const { file, url } of routes) {
      await runtime.deploy(readExample(file));
      for (const want of HTTP_CASES[url]) {
        const send = () =>
          runtime.call(want.method, want.route, {
            body: want.body,
            headers: { 'content-type': want.type ?? 'application/json', accept: '*/*' },
            timeoutMs: 10_000,
          });
        const started = Date.now();
        let answer = await send();
        // A route answers 404 for a moment after a deploy, until its flow has started.
        while (answer.status === 404 && Date.now() - started < 5_000) answer = await send();
        assert.equal(answer.status, want.status, `${want.method} ${want.route}: ${answer.text.slice(0, 300)}`);
        const shown = want.status === 200 ? String(answer.headers['content-type']) + answer.text.slice(0, 200) : answer.text;
        assert.match(shown, want.answer, `${want.method} ${want.route}`);
        assert.ok(Date.now() - started < 10_000, `${want.method} ${want.route} took ${Date.now() - started} ms`);
      }
    }
  });

  it('save-image.json keeps its editor preview across a Node-RED restart', async () => {
    const flow = readExample('save-image.json');
    await runtime.deploy(flow);
    const logStart = runtime.log().length;
    await untilOk(() => runtime.call('POST', '/inject/si.inject'), 'inject');
    await waitFor(() => runtime.log().slice(logStart).includes('[debug:saved files]'), 30_000, 'the images to be saved');
    const before = await untilOk(() => runtime.call('GET', '/image-gen/save-image/si.save/preview'), 'the preview');
    assert.match(String(before.json().src), /^data:image\/webp;base64,/);
    const userDir = runtime.userDir;
    await runtime.stop({ keepUserDir: true });
    runtime = await startInstalledRuntime({ userDir });
    const after = await runtime.call('GET', '/image-gen/save-image/si.save/preview');
    assert.equal(after.status, 200, after.text);
    assert.equal(after.json().src, before.json().src);
  });
});
