import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../../scripts/node-red-home';
import { PROVIDER_ADAPTERS, PROVIDER_APIS } from '../../../lib/providers';

describe('lib/jobs knows adapters, not providers', () => {
  it('names no provider, no provider label and no sandbox in any of its files', () => {
    const directory = path.join(REPO_ROOT, 'lib', 'jobs');
    const files = fs.readdirSync(directory).filter((file) => file.endsWith('.ts'));
    assert.ok(files.length >= 5, `lib/jobs has its files (${files.join(', ')})`);
    const names = [...PROVIDER_APIS, ...PROVIDER_APIS.map((api) => PROVIDER_ADAPTERS[api].info.label), 'sandbox'];
    for (const file of files) {
      const source = fs.readFileSync(path.join(directory, file), 'utf8').toLowerCase();
      for (const name of names) assert.ok(!source.includes(name.toLowerCase()), `lib/jobs/${file} names "${name}"`);
    }
  });
});
