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

  it('keeps no copy of a provider kind or model list in any dialog', () => {
    const providers = providersForEditor();
    const listed = Object.entries(providers).flatMap(([kind, info]) => [kind, ...(info.models ?? []).map((model) => model.id)]);
    for (const { file, source } of html) {
      for (const value of listed) assert.ok(!source.includes(`<option value="${value}"`), `${file} lists "${value}" itself`);
    }
  });
});
