import assert from 'node:assert/strict';
import path from 'node:path';
import { ONNXRUNTIME_MISSING } from '../../lib/local/runner-protocol';
import { waitFor } from '../support/net';
import { startRuntime } from '../support/runtime';
import type { Runtime } from '../support/runtime';

describe('Node-RED where onnxruntime-node is not installed', function () {
  this.timeout(60_000);
  let runtime: Runtime;
  before(async () => {
    const hide = path.join(__dirname, '..', 'support', 'hide-onnxruntime.js');
    runtime = await startRuntime('', undefined, { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${hide}`.trim() });
  });
  after(() => runtime?.stop());

  it('loads every node set, local-sd included, without an error', async () => {
    const nodes = (await runtime.call('GET', '/nodes')).json() as unknown as Array<{ id: string; enabled: boolean; err?: string }>;
    const ours = nodes.filter((set) => set.id.startsWith('node-red-contrib-image-gen/'));
    assert.ok(ours.some((set) => set.id.endsWith('/local-sd')));
    assert.ok(ours.length >= 8);
    for (const set of ours) assert.equal(set.err, undefined, `${set.id}: ${set.err}`);
  });

  it('has local-sd say how to install it, while the other nodes work', async () => {
    const models = await runtime.call('GET', '/image-gen/local-sd/models');
    assert.equal(models.json().onnxruntime_installed, false);
    const flow = [
      { id: 't', type: 'tab', label: 't' },
      { id: 'cfg', type: 'provider-config', name: 'sandbox', kind: 'sandbox' },
      { id: 'in1', type: 'inject', z: 't', x: 100, y: 100, props: [{ p: 'payload' }], payload: 'a cat', payloadType: 'str', wires: [['sd', 'wa']] },
      {
        id: 'sd',
        type: 'local-sd',
        z: 't',
        x: 300,
        y: 100,
        model: 'sandbox-tiny-sd',
        device: 'cpu',
        threads: 0,
        prompt: '',
        params: { width: 64, height: 64 },
        wires: [[]],
      },
      { id: 'wa', type: 'workers-ai', z: 't', x: 300, y: 160, provider: 'cfg', endpoint: 'worker', model: '', prompt: '', params: {}, wires: [['ok']] },
      { id: 'ok', type: 'debug', z: 't', x: 500, y: 160, name: 'cloud-ok', console: true, complete: 'job', active: true, wires: [] },
      { id: 'c', type: 'catch', z: 't', x: 100, y: 220, scope: null, wires: [['bad']] },
      { id: 'bad', type: 'debug', z: 't', x: 300, y: 220, name: 'caught', console: true, complete: 'error', active: true, wires: [] },
    ];
    assert.equal((await runtime.call('POST', '/flows', { body: flow, headers: { 'node-red-deployment-type': 'full' } })).status, 204);
    const start = runtime.log().length;
    for (let answer = await runtime.call('POST', '/inject/in1'); answer.status === 404; answer = await runtime.call('POST', '/inject/in1'))
      await new Promise((resolve) => setTimeout(resolve, 50));
    await waitFor(
      () => runtime.log().slice(start).includes('[debug:caught]') && runtime.log().slice(start).includes('[debug:cloud-ok]'),
      20_000,
      'both results',
    );
    assert.ok(runtime.log().slice(start).includes(ONNXRUNTIME_MISSING), runtime.log().slice(start));
  });
});
