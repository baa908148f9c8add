import assert from 'node:assert/strict';
import path from 'node:path';
import { ONNXRUNTIME_MISSING } from '../../lib/local/runner-protocol';
import { waitFor } from '../support/net';
import { catchAll, injectNode, logDebug, onTab, startRuntime, tinyLocalSd } from '../support/runtime';
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
      ...onTab('t', [
        injectNode('in1', 'a cat', ['sd', 'wa']),
        tinyLocalSd('sd', { width: 64, height: 64 }, []),
        { id: 'wa', type: 'workers-ai', provider: 'cfg', endpoint: 'worker', model: '', prompt: '', params: {}, wires: [['ok']] },
        logDebug('ok', 'cloud-ok', 'job'),
        catchAll('c', 'bad'),
        logDebug('bad', 'caught', 'error'),
      ]),
    ];
    await runtime.deploy(flow);
    const start = runtime.log().length;
    await runtime.press('in1');
    await waitFor(
      () => runtime.log().slice(start).includes('[debug:caught]') && runtime.log().slice(start).includes('[debug:cloud-ok]'),
      20_000,
      'both results',
    );
    assert.ok(runtime.log().slice(start).includes(ONNXRUNTIME_MISSING), runtime.log().slice(start));
  });
});
