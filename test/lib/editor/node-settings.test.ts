import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import type { z } from 'zod';
import { editorSchemaOf } from '../../../lib/editor/node-settings';
import { jobPollSettingsSchema } from '../../../lib/jobs/poll';
import { workersAiSettingsSchema } from '../../../lib/providers/cloudflare';
import { leonardoGenerateSettingsSchema } from '../../../lib/providers/leonardo';
import { piapiTaskSettingsSchema } from '../../../lib/providers/piapi';
import { fluxGenerateSettingsSchema } from '../../../lib/providers/pixeldojo';
import { jobWebhookSettingsSchema } from '../../../lib/jobs/webhooks';
import { localSdSettingsSchema } from '../../../lib/local/runner';
import { providerConfigSchema } from '../../../lib/providers/settings';
import { saveImageSettingsSchema } from '../../../lib/storage/message';
import { REPO_ROOT } from '../../../scripts/node-red-home';

/** The schema each node type's runtime reads its settings with, and settings it accepts to vary one at a time. */
const RUNTIME: Record<string, { schema: z.ZodType; base: Record<string, unknown> }> = {
  'provider-config': { schema: providerConfigSchema, base: { kind: 'sandbox' } },
  'flux-generate': { schema: fluxGenerateSettingsSchema, base: {} },
  'piapi-task': { schema: piapiTaskSettingsSchema, base: {} },
  'leonardo-generate': { schema: leonardoGenerateSettingsSchema, base: {} },
  'workers-ai': { schema: workersAiSettingsSchema, base: {} },
  'local-sd': { schema: localSdSettingsSchema, base: {} },
  'job-poll': { schema: jobPollSettingsSchema, base: {} },
  'job-webhook': { schema: jobWebhookSettingsSchema, base: {} },
  'save-image': { schema: saveImageSettingsSchema, base: {} },
};

/** Registers every node of the pack with a stand-in RED, keeping what each exports to its editor as settings. */
function exportedSettings(): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  const noop = () => undefined;
  const RED = {
    nodes: {
      createNode: noop,
      getNode: () => null,
      registerType: (_type: string, _constructor: unknown, options?: { settings?: Record<string, { value: unknown; exportable?: boolean }> }) => {
        for (const [name, setting] of Object.entries(options?.settings ?? {})) if (setting.exportable) settings[name] = setting.value;
      },
    },
    httpAdmin: { get: noop, post: noop },
    httpNode: { get: noop, post: noop, use: noop },
    auth: { needsPermission: () => noop },
    settings: {},
    events: { on: noop },
    comms: { publish: noop },
    log: { warn: noop, info: noop, error: noop },
  };
  for (const type of Object.keys(RUNTIME)) {
    (require(path.join(REPO_ROOT, 'dist', 'nodes', type, `${type}.js`)) as (api: unknown) => void)(RED);
  }
  return settings;
}

/** resources/editor.js as the browser runs it, with the runtime's exported settings in RED.settings. */
function editorAccepts(settings: Record<string, unknown>): (type: string, property: string, value: unknown) => boolean {
  const window: Record<string, unknown> = {};
  // Values cross into the vm as JSON: the editor holds what the dialog and flow JSON hold.
  const context = vm.createContext({ window, RED: { settings: JSON.parse(JSON.stringify(settings)) as unknown } });
  vm.runInContext(fs.readFileSync(path.join(REPO_ROOT, 'resources', 'editor.js'), 'utf8'), context);
  const helpers = window.ImageGenEditor as { accepts(type: string, property: string, value: unknown): boolean };
  return (type, property, value) => {
    context.value = value === undefined ? undefined : JSON.parse(JSON.stringify(value));
    return helpers.accepts(type, property, vm.runInContext('value', context));
  };
}

/** A small seeded generator, so a failing case can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Values a dialog or a hand-edited flow can hold: edge numbers as text and numbers, near-misses, wrong types, generated text. */
function candidates(schema: unknown, next: () => number): unknown[] {
  const numbers = new Set<number>([0, 1, -1, 1.5, 12, 255, 256, 257, 999, 1000, 1001, 3600000, 86400, 86401, 86400000, 86400001, 1e9, 1e9 + 1, 2 ** 53, 1e21]);
  const enums = new Set<string>();
  JSON.stringify(schema, (key, value: unknown) => {
    if ((key === 'minimum' || key === 'maximum') && typeof value === 'number')
      [value - 1, value - 0.5, value, value + 0.5, value + 1].forEach((n) => numbers.add(n));
    if (key === 'enum' && Array.isArray(value)) value.forEach((choice) => enums.add(String(choice)));
    return value;
  });
  const texts = ['', ' ', ' 12 ', '1e3', '0x10', '1_000', 'abc', 'Infinity', '-Infinity', 'NaN', 'null', 'true', '[]', '{}', '12s', '٣'];
  const urls = [
    'http://a',
    'https://api.example.com/v1/',
    'HTTPS://X.Y',
    'ftp://a',
    'http://',
    'http:// a',
    'https://a b',
    '//a',
    'http://a?x',
    'http://?x',
    'javascript:alert(1)',
  ];
  const paths = ['/', '/a', '/a/b', '/image-gen/webhook', '/a/../b', '/..', '/a/..b', '/a/.', '/a b', 'a/b', '/a//b', '/ä', '/a~b.c-d_e'];
  const alphabet = '0123456789.-+e xX/:ahtps_~?#ä';
  const generated = Array.from({ length: 60 }, () =>
    Array.from({ length: Math.floor(next() * 12) }, () => alphabet[Math.floor(next() * alphabet.length)]).join(''),
  );
  return [
    undefined,
    null,
    true,
    false,
    {},
    { seed: 1 },
    [],
    [5],
    ...[...numbers].flatMap((n) => [n, String(n)]),
    ...[...enums].flatMap((choice) => [choice, choice.toUpperCase(), ` ${choice}`]),
    ...texts,
    ...urls,
    ...paths,
    ...generated,
  ];
}

describe('lib/editor node settings: the dialog and the runtime accept the same values', () => {
  const settings = exportedSettings();
  const accepts = editorAccepts(settings);

  for (const [type, { schema, base }] of Object.entries(RUNTIME)) {
    it(`${type}: exports the schema its runtime reads with, and the editor agrees with the runtime on every generated value`, () => {
      const name = `${type.replace(/-(\w)/g, (_match, letter: string) => letter.toUpperCase())}Schema`;
      const exported = settings[name] as { properties: Record<string, unknown> } | undefined;
      assert.deepEqual(exported, editorSchemaOf(schema), `${type} does not export its runtime schema as ${name}`);
      assert.ok(schema.safeParse(base).success, `the base settings of ${type} are refused`);
      const next = random(type.length);
      let compared = 0;
      for (const [property, propertySchema] of Object.entries(exported?.properties ?? {})) {
        for (const value of candidates(propertySchema, next)) {
          const runtime = schema.safeParse({ ...base, [property]: value }).success;
          const editor = accepts(type, property, value);
          assert.equal(
            editor,
            runtime,
            `${type}.${property} = ${JSON.stringify(value)}: the editor ${editor ? 'accepts' : 'refuses'} it, the runtime ${runtime ? 'accepts' : 'refuses'} it`,
          );
          compared++;
        }
      }
      assert.ok(compared > 100, `only ${compared} cases`);
    });
  }

  it("every editor validates each setting of its node with the runtime's schema, and a new node's defaults are accepted by both", () => {
    for (const [type, { schema }] of Object.entries(RUNTIME)) {
      const defaults = editorDefaults(type, settings);
      const exported = settings[`${type.replace(/-(\w)/g, (_match, letter: string) => letter.toUpperCase())}Schema`] as { properties: Record<string, unknown> };
      const values: Record<string, unknown> = {};
      for (const property of Object.keys(exported.properties)) {
        const field = defaults[property];
        assert.ok(field?.validate, `${type}.html does not validate ${property}`);
        assert.equal(field.validate(field.value), true, `${type}.html refuses its own default ${property}`);
        for (const value of ['', '-1', 'bogus', 12, {}]) {
          assert.equal(
            field.validate(value),
            schema.safeParse({ ...RUNTIME[type]?.base, [property]: value }).success,
            `${type}.${property} = ${JSON.stringify(value)}`,
          );
        }
        values[property] = field.value;
      }
      assert.ok(schema.safeParse(values).success, `the runtime refuses a new ${type} node's defaults`);
    }
  });
});

/** The `defaults` a node's .html registers, run as the editor runs it (with editor.js loaded first). */
function editorDefaults(type: string, settings: Record<string, unknown>): Record<string, { value: unknown; validate?: (value: unknown) => boolean }> {
  const html = fs.readFileSync(path.join(REPO_ROOT, 'nodes', type, `${type}.html`), 'utf8');
  assert.ok(html.includes('src="resources/node-red-contrib-image-gen/editor.js"'), `${type}.html does not load editor.js`);
  let registered: { defaults: Record<string, { value: unknown; validate?: (value: unknown) => boolean }> } | undefined;
  const window: Record<string, unknown> = {};
  const noop = () => undefined;
  const RED = {
    settings: JSON.parse(JSON.stringify(settings)) as unknown,
    nodes: { registerType: (_type: string, definition: typeof registered) => (registered = definition) },
    comms: { subscribe: noop },
    events: { on: noop },
  };
  const context = vm.createContext({ window, RED });
  vm.runInContext(fs.readFileSync(path.join(REPO_ROOT, 'resources', 'editor.js'), 'utf8'), context);
  context.ImageGenEditor = window.ImageGenEditor;
  for (const [, script] of html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)) vm.runInContext(script ?? '', context);
  assert.ok(registered, `${type}.html registers no type`);
  return registered.defaults;
}
