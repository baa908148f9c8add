import assert from 'node:assert/strict';
import { loadFlow, sleep } from '../support/flow';
import { waitFor } from '../support/net';
import { helper } from '../support/node-red';
import { recordUnhandledRejections } from '../support/unhandled';

/** Settings and messages a careless user or another tool can produce: each ends in a short, clear error. */
describe('nodes given hostile settings and messages', function () {
  this.timeout(20_000);
  const unhandled = recordUnhandledRejections();
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    await helper.unload();
    assert.deepEqual(unhandled.splice(0), [], 'no unhandled rejection');
  });

  const rest = { type: 'workers-ai', endpoint: 'rest', model: '@cf/black-forest-labs/flux-1-schnell', prompt: '', params: {} };

  it('cuts a 1 MB msg.model in the error to a few hundred characters, and sends nothing', async () => {
    const { run, sandbox } = await loadFlow(['workers-ai'], rest);
    const { error } = await run({ prompt: 'p', model: `@cf/${'x'.repeat(1_000_000)}` });
    assert.ok(error);
    assert.ok(error.message.length < 500, `${error.message.length} characters`);
    assert.equal(sandbox.requests.length, 0);
  });

  for (const [label, settings, message] of [
    ['a number as the configured model', { model: 42 }, /workers-ai's settings cannot be used: model: Invalid input: expected string, received number/],
    [
      'an object as the configured prompt',
      { prompt: { text: 'p' } },
      /workers-ai's settings cannot be used: prompt: Invalid input: expected string, received object/,
    ],
  ] as const) {
    it(`refuses ${label} through Catch, not with a TypeError`, async () => {
      const { run, sandbox } = await loadFlow(['workers-ai'], { ...rest, ...settings });
      const { error } = await run({ payload: 'p' });
      assert.match(error?.message ?? '', message);
      assert.equal(sandbox.requests.length, 0);
    });
  }

  it('finishes a message that Node-RED itself cannot pass on, without an unhandled rejection', async () => {
    // With two wires Node-RED copies the message it sends, and so do Catch nodes: a getter that throws breaks each copy.
    const { sandbox } = await loadFlow(['workers-ai'], { ...rest, endpoint: 'worker', wires: [['out', 'out2']] }, { extra: [{ id: 'out2', type: 'helper' }] });
    const msg = { prompt: 'p' } as Record<string, unknown>;
    Object.defineProperty(msg, 'trap', {
      enumerable: true,
      get: () => {
        throw new Error('trap');
      },
    });
    helper.getNode('n1').receive(msg);
    await waitFor(() => sandbox.requests.length === 1, 5_000, 'the generation');
    await sleep(300);
  });

  it('deploys local-sd with CPU threads "-4", saying why on each message instead of logging zod JSON', async () => {
    const { run } = await loadFlow(['local-sd'], {
      type: 'local-sd',
      provider: '',
      model: 'sandbox-tiny-sd',
      device: 'cpu',
      threads: '-4',
      prompt: '',
      params: {},
    });
    const { error } = await run({ prompt: 'a cat' });
    assert.match(error?.message ?? '', /local-sd's settings cannot be used: threads: must be 0 to 256/);
  });
});
