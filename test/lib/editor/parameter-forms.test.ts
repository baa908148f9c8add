import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { z } from 'zod';
import { LOCAL_SD_FORM_OMITS, localSdParametersForEditor, localSdParamsSchema } from '../../../lib/local/params';
import { SeededRandom } from '../../../lib/local/random';
import { PROVIDER_ADAPTERS, PROVIDER_APIS, providersForEditor } from '../../../lib/providers';
import { catalogueParameters } from '../../../lib/providers/pixeldojo';
import type { PixeldojoCatalogue } from '../../../lib/providers/pixeldojo';
import { CATALOGUE, requestSchema } from '../../../lib/sandbox/pixeldojo';
import { REPO_ROOT } from '../../../scripts/node-red-home';

type AcceptsParameter = (kind: string, key: string, name: string, value: unknown) => boolean;

/** resources/editor.js as the browser runs it, with the providers the runtime exports in RED.settings. */
function editorForms(extra: Record<string, unknown>): AcceptsParameter {
  const window: Record<string, unknown> = {};
  const settings = JSON.parse(JSON.stringify({ providerConfigProviders: { ...providersForEditor(), ...extra } })) as unknown;
  // URL is the browser's, as the editor has it.
  const context = vm.createContext({ window, RED: { settings }, URL });
  vm.runInContext(fs.readFileSync(path.join(REPO_ROOT, 'resources', 'editor.js'), 'utf8'), context);
  const helpers = window.ImageGenEditor as { acceptsParameter: AcceptsParameter };
  return (kind, key, name, value) => {
    context.value = JSON.parse(JSON.stringify(value)) as unknown;
    return helpers.acceptsParameter(kind, key, name, vm.runInContext('value', context));
  };
}

/** Typed values a form or a hand-written JSON can hold for one parameter: its edges, near-misses, wrong types, generated text. */
function candidates(schema: unknown, next: () => number): unknown[] {
  const numbers = new Set<number>([0, 1, -1, 0.5, 1.5, 7, 8, 31, 32, 100, 1e9]);
  const texts = new Set<string>(['', ' ', 'x', '12', 'true', 'http://a.example/i.png', 'https://a.example/m.png', 'ftp://a', '16:9', 'wide', '1:1']);
  JSON.stringify(schema, (key, value: unknown) => {
    if (['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'].includes(key) && typeof value === 'number')
      [value - 1, value - 0.5, value - 0.01, value, value + 0.01, value + 0.5, value + 1].forEach((n) => numbers.add(n));
    if ((key === 'minLength' || key === 'maxLength') && typeof value === 'number')
      [value - 1, value, value + 1].forEach((n) => n >= 0 && texts.add('y'.repeat(n)));
    if (key === 'enum' && Array.isArray(value))
      value.forEach((choice) => [String(choice), String(choice).toLowerCase(), `${String(choice)} `].forEach((text) => texts.add(text)));
    return value;
  });
  const generated = Array.from({ length: 20 }, () =>
    Array.from({ length: Math.floor(next() * 10) }, () => '0123456789.:-ax/'[Math.floor(next() * 16)]).join(''),
  );
  return [null, true, false, {}, [], [{ path: 'p' }], ...[...numbers], ...[...numbers].map(String), ...texts, ...generated];
}

/**
 * Compares the form's verdict with the runtime's, one parameter at a time, over generated values;
 * answers how many cases were compared.
 */
function compareForms(
  label: string,
  schema: z.ZodType,
  exported: { properties: Record<string, unknown> },
  filledByNode: readonly string[],
  editorAccepts: (name: string, value: unknown) => boolean,
  next: () => number,
): number {
  let compared = 0;
  for (const [name, property] of Object.entries(exported.properties)) {
    assert.ok(!filledByNode.includes(name));
    for (const value of candidates(property, next)) {
      // The runtime's verdict on this one parameter: no issue at its path (other fields' issues are theirs).
      const parsed = schema.safeParse({ [name]: value });
      const runtime = parsed.success || !parsed.error.issues.some((issue) => issue.path[0] === name);
      const editor = editorAccepts(name, value);
      assert.equal(
        editor,
        runtime,
        `${label} ${name} = ${JSON.stringify(value)}: the form ${editor ? 'accepts' : 'refuses'} it, the runtime ${runtime ? 'accepts' : 'refuses'} it`,
      );
      compared++;
    }
  }
  return compared;
}

describe('the parameter forms and the runtime validate with the same schema', () => {
  // local-sd's form for this machine reads RED.settings.localSdParameters; here it is put beside the providers' to be read the same way.
  const accepts = editorForms({ 'local-sd': { parameters: { '*': localSdParametersForEditor } } });
  for (const api of PROVIDER_APIS) {
    it(`${api}: the form accepts a value for a parameter exactly when the runtime does, over generated cases`, () => {
      // Seeded, so a failing case can be replayed.
      const seeded = new SeededRandom(api.length * 31);
      const next = () => seeded.uniform();
      let compared = 0;
      for (const [key, { schema, filledByNode = ['prompt'] }] of Object.entries(PROVIDER_ADAPTERS[api].editor.parameters)) {
        const exported = providersForEditor()[api].parameters?.[key] as { properties: Record<string, unknown> };
        compared += compareForms(`${api} ${key}`, schema, exported, filledByNode, (name, value) => accepts(api, key, name, value), next);
      }
      assert.ok(compared > 100, `only ${compared} cases`);
    });
  }

  it("PixelDojo's jobs API: a catalogue model's form accepts a value exactly when the runtime's check of its published schema does", async () => {
    const seeded = new SeededRandom(17);
    for (const model of CATALOGUE) {
      const validator = z.fromJSONSchema(requestSchema(model) as Parameters<typeof z.fromJSONSchema>[0]);
      const catalogue = { validator: () => Promise.resolve(validator) } as unknown as PixeldojoCatalogue;
      const exported = (await catalogueParameters(catalogue, model.apiId)) as { properties: Record<string, unknown> };
      const forms = editorForms({ catalogue: { parameters: { [model.apiId]: exported } } });
      const compared = compareForms(
        `pixeldojo jobs ${model.apiId}`,
        validator,
        exported,
        ['prompt', 'webhook_url'],
        (name, value) => forms('catalogue', model.apiId, name, value),
        () => seeded.uniform(),
      );
      assert.ok(compared > 50, `only ${compared} cases`);
    }
  });

  it('local-sd on this machine: the form accepts a value for a parameter exactly when the runtime does, over generated cases', () => {
    const seeded = new SeededRandom(13);
    const exported = localSdParametersForEditor as { properties: Record<string, unknown> };
    const compared = compareForms(
      'local-sd',
      localSdParamsSchema,
      exported,
      LOCAL_SD_FORM_OMITS,
      (name, value) => accepts('local-sd', '*', name, value),
      () => seeded.uniform(),
    );
    assert.ok(compared > 100, `only ${compared} cases`);
  });
});
