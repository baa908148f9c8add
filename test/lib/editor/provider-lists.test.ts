import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../../scripts/node-red-home';
import { PROVIDER_APIS, providersForEditor } from '../../../lib/providers';

describe('the editor takes provider lists from the runtime', () => {
  const html = fs
    .readdirSync(path.join(REPO_ROOT, 'nodes'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.html') && !file.includes('locales'))
    .map((file) => ({ file, source: fs.readFileSync(path.join(REPO_ROOT, 'nodes', file), 'utf8') }));

  it('exports every provider kind with its defaults, models and prices, and nothing secret', () => {
    const providers = providersForEditor();
    assert.deepEqual(Object.keys(providers).sort(), [...PROVIDER_APIS, 'sandbox'].sort());
    for (const [kind, info] of Object.entries(providers)) {
      assert.ok(info.label && info.defaultRpm > 0 && info.defaultConcurrency > 0, `${kind} has a label and defaults`);
      assert.doesNotMatch(JSON.stringify(info), /"(apiKey|accountId|key|secret|token)"/i, `${kind} exports no credential field`);
    }
    assert.ok(
      providers.piapi.models?.every((model) => model.price && model.taskTypes && model.taskTypes.length > 0),
      'PiAPI models carry prices and task types',
    );
  });

  it("exports each provider's parameters as the runtime validates them, per model or task type, without the fields the node fills", () => {
    const providers = providersForEditor();
    for (const api of PROVIDER_APIS) {
      const parameters = providers[api].parameters ?? {};
      assert.ok(Object.keys(parameters).length > 0, `${api} exports its parameters`);
      for (const [key, schema] of Object.entries(parameters)) {
        const properties = (schema as { properties?: Record<string, unknown> }).properties ?? {};
        assert.ok(Object.keys(properties).length > 0, `${api} ${key} lists parameters`);
        assert.ok(!('prompt' in properties), `${api} ${key}: the prompt is the node's`);
      }
    }
    type Json = { properties: Record<string, { maximum?: number; enum?: unknown[] }>; required?: string[] };
    const piapi = providers.piapi.parameters as Record<string, Json>;
    assert.deepEqual(piapi.img2img.required, ['image']);
    assert.equal(piapi.txt2img.properties.guidance_scale.maximum, 5);
    const bfl = providers.bfl.parameters as Record<string, Json>;
    assert.equal(bfl['flux-dev'].properties.steps.maximum, 50);
    assert.ok(!('steps' in bfl['flux-pro-1.1'].properties));
    const leonardo = (providers.leonardo.parameters as Record<string, Json>)['*'];
    assert.ok(leonardo.properties.presetStyle.enum?.includes('CINEMATIC') && !('modelId' in leonardo.properties));
  });

  it('keeps no copy of a provider kind or model list in any dialog', () => {
    const providers = providersForEditor();
    const models = Object.values(providers).flatMap((info) => (info.models ?? []).map((model) => model.id));
    for (const { file, source } of html) {
      // A node's own settings may name a kind (flux-generate's API "bfl"); the provider kinds list is the config dialog's.
      const listed = file.startsWith('provider-config') ? [...Object.keys(providers), ...models] : models;
      for (const value of listed) assert.ok(!source.includes(`<option value="${value}"`), `${file} lists "${value}" itself`);
    }
  });
});
