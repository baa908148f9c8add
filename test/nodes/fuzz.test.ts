import assert from 'node:assert/strict';
import { SeededRandom } from '../../lib/local/random';
import { loadFlow } from '../support/flow';
import type { Harness } from '../support/flow';
import { helper } from '../support/node-red';
import { recordUnhandledRejections } from '../support/unhandled';

/**
 * Generated messages into every node: each carries at least one value its node must refuse, so each
 * must end in done(err), with a short message, and nothing may reach the (sandbox) provider.
 */
const MESSAGES_PER_NODE = 400;

const junk = (): unknown[] => [
  undefined,
  null,
  true,
  0,
  -1,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  1e308,
  '',
  '   ',
  '..',
  '../..',
  '@cf/../..',
  '%2e%2e',
  '\u0000',
  '\u202e\u200bzero-width',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✨ 画像',
  'x'.repeat(100_000),
  [],
  [1, 'two', { three: 3 }],
  {},
  { nested: { deeper: { deepest: [null, { x: -0 }] } } },
  JSON.parse('{"__proto__": {"polluted": "yes"}}') as unknown,
  JSON.parse('{"constructor": {"prototype": {"polluted": "yes"}}}') as unknown,
  Buffer.from('not an image'),
];

/** Values each node is sure to refuse in one of its inputs. */
const POISON: Record<string, Array<[string, unknown]>> = {
  prompt: [
    ['prompt', 42],
    ['prompt', { text: 'p' }],
    ['prompt', ['p']],
    ['prompt', '   '],
    ['prompt', 'x'.repeat(100_000)],
  ],
  model: [
    ['model', 7],
    ['model', '../..'],
    ['model', ''],
    ['model', 'no-such-model-\u0000'],
    ['model', `@cf/${'m'.repeat(100_000)}`],
  ],
  params: [
    ['params', 'a string'],
    ['params', [1, 2]],
    ['params', JSON.parse('{"__proto__": {"polluted": "yes"}}')],
    ['params', { constructor: { prototype: { polluted: 'yes' } } }],
    ['params', { unknown_parameter_xyz: 1 }],
  ],
};

interface Target {
  label: string;
  types: string[];
  node: Record<string, unknown>;
  poisons: Array<[string, unknown]>;
  /** Fields the fuzzer may also fill with junk. */
  fields: string[];
}

const targets: Target[] = [
  {
    label: 'flux-generate /flux',
    types: ['flux-generate'],
    node: { type: 'flux-generate', endpoint: 'flux', model: 'flux-pro', prompt: '', params: {}, completion: 'wait' },
    poisons: [...POISON.prompt, ...POISON.model, ...POISON.params],
    fields: ['payload', 'topic', 'images', 'job'],
  },
  {
    label: 'flux-generate jobs',
    types: ['flux-generate'],
    node: { type: 'flux-generate', endpoint: 'jobs', model: 'flux-dev', prompt: '', params: {}, completion: 'job' },
    poisons: [...POISON.prompt, ...POISON.model, ...POISON.params],
    fields: ['payload', 'topic', 'job'],
  },
  {
    label: 'piapi-task',
    types: ['piapi-task'],
    node: { type: 'piapi-task', model: 'Qubico/flux1-schnell', taskType: 'txt2img', prompt: '', params: {}, completion: 'wait' },
    poisons: [...POISON.prompt, ...POISON.model, ...POISON.params, ['taskType', '../task']],
    fields: ['payload', 'topic'],
  },
  {
    label: 'flux-generate bfl',
    types: ['flux-generate'],
    node: { type: 'flux-generate', endpoint: 'bfl', model: 'flux-pro-1.1', prompt: '', params: {}, completion: 'wait' },
    poisons: [...POISON.prompt, ...POISON.model, ...POISON.params],
    fields: ['payload', 'topic', 'images', 'job'],
  },
  {
    label: 'leonardo-generate',
    types: ['leonardo-generate'],
    node: { type: 'leonardo-generate', model: '', prompt: '', params: {}, completion: 'wait' },
    poisons: [...POISON.prompt, ...POISON.model, ...POISON.params],
    fields: ['payload', 'topic', 'images', 'job'],
  },
  {
    label: 'workers-ai worker',
    types: ['workers-ai'],
    node: { type: 'workers-ai', endpoint: 'worker', prompt: '', params: {} },
    poisons: [...POISON.prompt, ...POISON.params],
    fields: ['payload', 'topic'],
  },
  {
    label: 'workers-ai REST',
    types: ['workers-ai'],
    node: { type: 'workers-ai', endpoint: 'rest', model: '@cf/black-forest-labs/flux-1-schnell', prompt: '', params: {} },
    poisons: [...POISON.prompt, ...POISON.model, ...POISON.params],
    fields: ['payload', 'topic'],
  },
  {
    label: 'local-sd',
    types: ['local-sd'],
    node: { type: 'local-sd', provider: '', model: 'sandbox-tiny-sd', device: 'cpu', threads: 0, prompt: '', params: {} },
    poisons: [
      ...POISON.prompt,
      ['model', '../..'],
      ['model', 7],
      ['model', '/nonexistent/model'],
      ...POISON.params,
      ['params', { width: 100 }],
      ['params', { num_inference_steps: 0 }],
    ],
    fields: ['payload', 'topic'],
  },
  {
    label: 'job-poll',
    types: ['job-poll'],
    node: { type: 'job-poll', initialDelay: '', maxDelay: '', timeout: '' },
    poisons: [
      ['job', undefined],
      ['job', 'job_1'],
      ['job', { provider: 'piapi', model: 'm', id: '..', status: 'pending', params: {} }],
      ['job', { provider: 'nope', id: 'x', status: 'pending' }],
      ['job', JSON.parse('{"__proto__": {"polluted": "yes"}}')],
    ],
    fields: ['payload', 'topic', 'prompt'],
  },
  {
    label: 'save-image',
    types: ['save-image'],
    node: { type: 'save-image', directory: '', filename: '{seed}-{index}', collision: 'unique', preview: false, maxSize: '1' },
    poisons: [
      ['payload', 42],
      ['payload', null],
      ['payload', 'file:///etc/passwd'],
      ['payload', Buffer.from('not an image')],
      ['filename', '../../escape'],
      ['filename', '/etc/x'],
      ['filename', 7],
      ['images', [{ url: 'ftp://example.com/x.png' }]],
    ],
    fields: ['topic', 'prompt', 'job'],
  },
];

describe('fuzzed messages into every node', function () {
  this.timeout(120_000);
  const unhandled = recordUnhandledRejections();
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  for (const [targetIndex, target] of targets.entries()) {
    it(`${target.label}: ${MESSAGES_PER_NODE} poisoned messages each end in a short done(err), and none reaches the provider`, async () => {
      const random = new SeededRandom(1000 + targetIndex);
      const pick = <T>(items: T[]): T => items[random.nextUint32() % items.length];
      const harness: Harness = await loadFlow(target.types, target.node);
      const pool = junk();
      for (let i = 0; i < MESSAGES_PER_NODE; i++) {
        const msg: Record<string, unknown> = {};
        for (const field of target.fields) if (random.nextUint32() % 2 === 0) msg[field] = pick(pool);
        const [field, value] = pick(target.poisons);
        msg[field] = value;
        const { out, error } = await harness.run(msg, 5_000);
        assert.equal(out, undefined, `message ${i} (${field}) was sent on: ${JSON.stringify(msg).slice(0, 200)}`);
        assert.ok(error, `message ${i} ended without an error`);
        assert.ok(error.message.length <= 500, `message ${i}: a ${error.message.length}-character error`);
      }
      // PixelDojo's model catalogue is public and free, and is read to validate parameters: nothing else may be sent.
      const sent = harness.sandbox.requests.filter(
        (entry) => entry.api !== 'files' && !(entry.method === 'GET' && /^\/models(\/[\w.-]+)?$/.test(entry.path) && !entry.headers.authorization),
      );
      assert.deepEqual(
        sent.map((entry) => `${entry.method} ${entry.path}`),
        [],
        'nothing paid or keyed reached the provider',
      );
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is untouched');
      assert.deepEqual(unhandled.splice(0), [], 'no unhandled rejection');
    });
  }

  for (const [targetIndex, target] of targets.entries()) {
    it(`${target.label}: 15 generated node configurations deploy, and a message to each ends in one short outcome`, async () => {
      const random = new SeededRandom(2000 + targetIndex);
      const pick = <T>(items: T[]): T => items[random.nextUint32() % items.length];
      // Flow JSON is JSON: only values it can hold are tried as settings.
      const pool = junk().filter(
        (value) =>
          value !== undefined &&
          !Buffer.isBuffer(value) &&
          JSON.stringify(value) === JSON.stringify(JSON.parse(JSON.stringify(value) ?? 'null')) &&
          !/__proto__|constructor/.test(JSON.stringify(value)),
      );
      for (let i = 0; i < 15; i++) {
        const node: Record<string, unknown> = { ...target.node };
        for (const setting of Object.keys(node).filter((key) => key !== 'type')) if (random.nextUint32() % 3 === 0) node[setting] = pick(pool);
        const harness = await loadFlow(target.types, node);
        assert.ok(helper.getNode('n1'), `configuration ${i} was not deployed: ${JSON.stringify(node).slice(0, 200)}`);
        const { out, error } = await harness.run({ prompt: 'a cat', payload: 'a cat' }, 20_000);
        assert.ok(out || error, `configuration ${i}: ${JSON.stringify(node).slice(0, 200)}`);
        if (error) assert.ok(error.message.length <= 500, `configuration ${i}: a ${error.message.length}-character error`);
        await helper.unload();
      }
      assert.deepEqual(unhandled.splice(0), [], 'no unhandled rejection');
    });
  }
});
