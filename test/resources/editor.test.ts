import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { REPO_ROOT } from '../../scripts/node-red-home';

interface EditorHelpers {
  showParams(node: { params?: unknown }): void;
  saveParams(node: { params?: unknown; _: (key: string) => string }, errorKey: string): void;
}

/** Runs resources/editor.js against a one-textarea stand-in for the editor's jQuery and RED. */
function loadEditor(): { helpers: EditorHelpers; textarea: { value: string }; notices: string[] } {
  const textarea = { value: '' };
  const notices: string[] = [];
  const $ = (selector: string) => {
    assert.equal(selector, '#node-input-params-json');
    return {
      val: (value?: string) => {
        if (value === undefined) return textarea.value;
        textarea.value = value;
        return undefined;
      },
    };
  };
  const window: Record<string, unknown> = {};
  const context = vm.createContext({ window, $, RED: { notify: (text: string) => notices.push(text) } });
  vm.runInContext(fs.readFileSync(path.join(REPO_ROOT, 'resources', 'editor.js'), 'utf8'), context);
  return { helpers: window.ImageGenEditor as EditorHelpers, textarea, notices };
}

describe("resources/editor.js (the editors' shared parameters box)", () => {
  const node = (params: unknown) => ({ params, _: (key: string) => `translated ${key}` });
  // Objects made inside the vm context have that context's prototypes: compare them as JSON.
  const plain = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

  it('shows the parameters as JSON and saves edited JSON back as an object', () => {
    const { helpers, textarea, notices } = loadEditor();
    const edited = node({ seed: 1 });
    helpers.showParams(edited);
    assert.deepEqual(JSON.parse(textarea.value), { seed: 1 });
    textarea.value = '{"seed": 2, "aspect_ratio": "16:9"}';
    helpers.saveParams(edited, 'flux-generate.errors.params');
    assert.deepEqual(plain(edited.params), { seed: 2, aspect_ratio: '16:9' });
    textarea.value = '';
    helpers.saveParams(edited, 'flux-generate.errors.params');
    assert.deepEqual(plain(edited.params), {});
    assert.deepEqual(notices, []);
  });

  for (const [label, text] of [
    ['broken JSON', '{"seed": '],
    ['an array', '[1, 2]'],
    ['a bare number', '42'],
    ['null', 'null'],
  ] as const) {
    it(`keeps the previous parameters and says so for ${label}`, () => {
      const { helpers, textarea, notices } = loadEditor();
      const edited = node({ seed: 1 });
      textarea.value = text;
      helpers.saveParams(edited, 'piapi-task.errors.params');
      assert.deepEqual(edited.params, { seed: 1 });
      assert.deepEqual(notices, ['translated piapi-task.errors.params']);
    });
  }

  it("is included by every editor that uses it, and each error key it is given exists in that node's messages", () => {
    for (const type of fs.readdirSync(path.join(REPO_ROOT, 'nodes'))) {
      const file = path.join(REPO_ROOT, 'nodes', type, `${type}.html`);
      if (!fs.existsSync(file)) continue;
      const html = fs.readFileSync(file, 'utf8');
      if (!html.includes('ImageGenEditor.saveParams')) continue;
      assert.ok(html.includes('src="resources/node-red-contrib-image-gen/editor.js"'), `${type}.html uses the helpers without loading them`);
      const messages = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'nodes', type, 'locales', 'en-US', `${type}.json`), 'utf8')) as Record<
        string,
        { errors?: { params?: string } }
      >;
      assert.ok(messages[type]?.errors?.params, `${type} has no errors.params message`);
    }
  });
});
