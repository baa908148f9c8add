import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { REPO_ROOT } from '../../scripts/node-red-home';
import { clearFirstRunOverlays, ensureChromium, launchChromium, settleFirstRun, watchPage } from '../support/browser';
import { startInstalledRuntime } from '../support/runtime';
import type { Runtime } from '../support/runtime';

interface FlowNode {
  id: string;
  type: string;
  z?: string;
  name?: string;
  console?: boolean;
  complete?: string;
  url?: string;
  preview?: boolean;
}

const PACKAGE = 'node-red-contrib-image-gen';
const SCREENSHOTS = path.join(REPO_ROOT, 'test-output', 'screenshots');
const nodeTypes = Object.keys(
  (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { 'node-red': { nodes: object } })['node-red'].nodes,
);
const paletteTypes = nodeTypes.filter((type) => type !== 'provider-config');
/** starter first, as a new user meets it; then the rest in name order. */
const exampleNames = fs
  .readdirSync(path.join(REPO_ROOT, 'examples'))
  .map((file) => path.basename(file, '.json'))
  .sort((a, b) => Number(b === 'starter') - Number(a === 'starter') || a.localeCompare(b));
const readExample = (name: string) => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'examples', `${name}.json`), 'utf8')) as FlowNode[];
/** Examples that fail on purpose, to show a Catch node at work. */
const DELIBERATE_FAILURE = /\[sandbox:fail\]/;

/**
 * Values typed into dialogs, and whether the dialog must mark them invalid: the same as the runtime
 * refuses, since each node exports its runtime limits to its editor (RED.settings.<type>Limits).
 */
const SETTING_CHECKS: Record<string, Array<[field: string, value: string, refused: boolean]>> = {
  'job-poll': [
    ['timeout', '0', true],
    ['timeout', '100000000', true],
    ['timeout', '12s', true],
    ['timeout', '600000', false],
    ['timeout', '', false],
  ],
  'save-image': [
    ['maxSize', '10001', true],
    ['maxSize', 'lots', true],
    ['maxSize', '0', false],
    ['maxSize', '100', false],
  ],
  'local-sd': [
    ['threads', '-4', true],
    ['threads', '257', true],
    ['threads', '4', false],
    ['threads', '0', false],
  ],
  'job-webhook': [
    ['path', '/hooks/../admin', true],
    ['path', 'hooks', true],
    ['path', '/hooks/images', false],
  ],
};

/** Checked in the provider config dialog, opened from flux-generate's. */
const PROVIDER_CONFIG_CHECKS: Array<[field: string, value: string, refused: boolean]> = [
  ['rpm', '0', true],
  ['rpm', '60', false],
  ['budget', '-1', true],
  ['budget', '2.5', false],
  ['webhookBaseUrl', 'ftp://example.com', true],
  ['webhookBaseUrl', 'https://example.com/hooks', false],
];

/** Types values into a dialog's inputs, checking each is marked refused exactly when the runtime would refuse it. */
async function checkSettings(page: Page, prefix: string, type: string, checks: Array<[field: string, value: string, refused: boolean]>): Promise<void> {
  for (const [field, value, refused] of checks) {
    const input = page.locator(`#${prefix}-${field}`);
    await input.fill(value);
    await input.dispatchEvent('change');
    assert.equal(await input.evaluate((element) => element.classList.contains('input-error')), refused, `${type} ${field} "${value}"`);
  }
}

/** Screenshots leave out the editor's passing notifications ("Successfully deployed"), which cover the canvas. */
const QUIET = '.red-ui-notification { visibility: hidden !important; }';

/** A selector for a node's SVG group on the canvas (example ids contain dots). */
const onCanvas = (id: string) => `[id="${id}"]`;

describe('the editor in a real browser: Debian chromium, Node-RED with default settings, the pack from its tarball', function () {
  this.timeout(180_000);
  let runtime: Runtime | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let problems: string[] = [];

  before(async function () {
    this.timeout(900_000); // installing chromium with apt-get can take minutes
    const chromium = await ensureChromium();
    if (!chromium.ready) {
      console.log(`\n  The browser test is skipped: ${chromium.reason}\n`);
      this.skip();
    }
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    runtime = await startInstalledRuntime();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    problems = watchPage(page, runtime.base);
    await page.goto(runtime.base);
    await page.waitForSelector(`.red-ui-palette-node[data-palette-type="${paletteTypes[0]}"]`, { timeout: 60_000 });
    await settleFirstRun(page);
  });
  after(async () => {
    await browser?.close();
    await runtime?.stop();
  });
  beforeEach(() => clearFirstRunOverlays(page));
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      await page.screenshot({ path: path.join(SCREENSHOTS, `failed-${this.currentTest.title.replace(/\W+/g, '-').slice(0, 60)}.png`) });
    }
    const found = problems.splice(0);
    assert.deepEqual(found, [], 'the page reported problems');
  });

  it('shows every node of the pack in the palette, each with its icon', async () => {
    for (const type of paletteTypes) {
      const entry = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
      await entry.scrollIntoViewIfNeeded();
      assert.ok(await entry.isVisible(), `${type} is in the palette`);
      // An icon of the pack's own is an image it serves; a Font Awesome icon is a glyph of the editor's font.
      const icon = (await entry.locator('.red-ui-palette-icon-container').getAttribute('data-palette-icon')) ?? '';
      if (icon.startsWith('font-awesome/')) {
        assert.equal(await entry.locator(`i.fa.${icon.split('/')[1]}`).count(), 1, `${type}'s icon ${icon}`);
      } else {
        assert.equal(icon, `icons/${PACKAGE}/image-gen.svg`, `${type}'s icon`);
        const svg = await page.request.get(`${runtime?.base}/${icon}`);
        assert.equal(svg.status(), 200);
        assert.match(svg.headers()['content-type'], /svg/);
      }
    }
    const category = page.locator('.red-ui-palette-category', { has: page.locator(`[data-palette-type="${paletteTypes[0]}"]`) });
    await category.screenshot({ path: path.join(SCREENSHOTS, 'palette.png'), style: QUIET });
  });

  it('imports each example from Import > Examples, reusing the one sandbox config, deploys it and runs it', async () => {
    for (const name of exampleNames) {
      const flow = readExample(name);
      await importExample(page, name);
      const configs = await page.evaluate(() => {
        const found: string[] = [];
        RED.nodes.eachConfig((config: { type: string; id: string }) => {
          if (config.type === 'provider-config') found.push(config.id);
        });
        return found;
      });
      assert.ok(configs.length <= 1, `after importing ${name}: ${configs.length} provider configs`);
      const tab = flow.find((node) => node.type === 'tab') as FlowNode;
      await page.evaluate((id) => RED.workspaces.show(id), tab.id);
      await deploy(page);
      // The debug sidebar's tab button differs between Node-RED 4 and 5; its keyboard action does not.
      await page.evaluate(() => RED.actions.invoke('core:show-debug-tab'));
      await page.click('#red-ui-sidebar-debug-clear');
      for (const inject of flow.filter((node) => node.type === 'inject')) {
        await page.click(`${onCanvas(inject.id)} .red-ui-flow-node-button-button`);
      }
      const failsOnPurpose = flow.some((node) => DELIBERATE_FAILURE.test(JSON.stringify(node)));
      const results = flow.filter(
        (node) => node.type === 'debug' && node.console && node.z === tab.id && node.complete !== 'error' && flow.some((other) => other.type === 'inject'),
      );
      for (const debug of results) {
        await page
          .locator('.red-ui-debug-msg', { hasText: debug.name as string })
          .first()
          .waitFor({ timeout: 60_000 });
      }
      if (!failsOnPurpose && flow.some((node) => node.type === 'inject')) {
        const caught = flow.filter((node) => node.type === 'debug' && node.complete === 'error');
        for (const debug of caught)
          assert.equal(await page.locator('.red-ui-debug-msg', { hasText: debug.name as string }).count(), 0, `${name}: ${debug.name}`);
      }
      for (const save of flow.filter((node) => node.type === 'save-image' && node.preview !== false)) {
        const preview = page.locator(`${onCanvas(save.id)} image.image-gen-preview`);
        await preview.waitFor({ state: 'attached', timeout: 30_000 });
        assert.match((await preview.getAttribute('href')) ?? '', /^data:image\/webp;base64,/);
        const box = await page.locator(onCanvas(save.id)).boundingBox();
        assert.ok(box);
        await page.screenshot({
          path: path.join(SCREENSHOTS, `preview-${name}.png`),
          clip: { x: box.x - 140, y: box.y - 40, width: 420, height: 220 },
          style: QUIET,
        });
      }
      for (const route of flow.filter((node) => node.type === 'http in' && node.url === '/generate')) {
        const image = await browser!.newPage();
        const answer = await image.goto(`${runtime?.base}${route.url}?prompt=a+red+fox`);
        assert.equal(answer?.status(), 200);
        assert.equal(answer?.headers()['content-type'], 'image/png');
        const size = await image.locator('img').evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight]);
        assert.ok(size[0] > 0 && size[1] > 0, 'the browser decodes the PNG');
        await image.screenshot({ path: path.join(SCREENSHOTS, 'http-generate.png') });
        await image.close();
      }
    }
  });

  it('opens the edit dialog of every node of the pack, and the provider config from it, with labels in place', async () => {
    for (const type of paletteTypes) {
      const example = exampleNames.map(readExample).find((flow) => flow.some((node) => node.type === type)) as FlowNode[];
      const node = example.find((candidate) => candidate.type === type) as FlowNode;
      await page.evaluate((id) => RED.workspaces.show(id), node.z as string);
      await clearFirstRunOverlays(page);
      await page.dblclick(`${onCanvas(node.id)} .red-ui-flow-node`);
      const form = page.locator('#dialog-form');
      await form.waitFor();
      const text = await page.locator('.red-ui-tray').last().innerText();
      assert.doesNotMatch(text, new RegExp(`${type}\\.(label|placeholder)\\.`), `${type}: untranslated labels`);
      await checkSettings(page, 'node-input', type, SETTING_CHECKS[type] ?? []);
      if (type === 'flux-generate') {
        // A trial click waits until the tray has stopped sliding in.
        await page.locator('#node-dialog-ok').click({ trial: true });
        await page
          .locator('.red-ui-tray')
          .last()
          .screenshot({ path: path.join(SCREENSHOTS, 'dialog-flux-generate.png'), style: QUIET });
        await page.click('#node-input-btn-provider-edit');
        const kind = page.locator('#node-config-input-kind');
        await kind.waitFor();
        const config = page.locator('.red-ui-tray', { has: kind });
        assert.doesNotMatch(await config.innerText(), /provider-config\.(label|placeholder)\./);
        await page.locator('#node-config-dialog-ok').click({ trial: true });
        await config.screenshot({ path: path.join(SCREENSHOTS, 'dialog-provider-config.png'), style: QUIET });
        await checkSettings(page, 'node-config-input', 'provider-config', PROVIDER_CONFIG_CHECKS);
        await page.click('#node-config-dialog-cancel');
        await kind.waitFor({ state: 'detached' });
      }
      await page.click('#node-dialog-cancel');
      await traysClosed(page);
    }
  });

  it('shows the help of every node of the pack, with its inputs, outputs and details', async () => {
    for (const type of nodeTypes) {
      await page.evaluate((name) => RED.sidebar.help.show(name), type);
      const help = page.locator('.red-ui-help').last();
      await help.waitFor();
      const text = await help.innerText();
      assert.match(text, /Details/, `${type}: help has Details`);
      if (type !== 'provider-config') assert.match(text, /Inputs|Outputs/, `${type}: help has Inputs / Outputs`);
    }
  });
});

/** Menu > Import > Examples > the pack > `name` > Import, answering the conflict dialog as a user would. */
async function importExample(page: Page, name: string): Promise<void> {
  await clearFirstRunOverlays(page);
  await page.click('#red-ui-header-button-sidemenu');
  await page.click('#menu-item-import');
  await page.locator('#red-ui-clipboard-dialog').waitFor();
  await page.click('#red-ui-tab-red-ui-clipboard-dialog-import-tab-examples a');
  const tree = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
  const entry = tree.locator('.red-ui-treeList-label', { hasText: new RegExp(`^${name}$`) });
  if (!(await entry.isVisible())) await tree.locator('.red-ui-treeList-label', { hasText: PACKAGE }).click();
  await entry.click();
  await page.click('#red-ui-clipboard-dialog-ok');
  await page.locator('#red-ui-clipboard-dialog').waitFor({ state: 'hidden' });
  // A node that exists already (the shared sandbox config) makes Node-RED ask. "View nodes..." lists them, the
  // existing config unticked: importing the rest keeps it, and every node keeps its id.
  const imported = page.locator('.red-ui-notification', { hasText: /Imported/ });
  const conflict = page.locator('.red-ui-notification', { hasText: 'already exist' });
  await imported.or(conflict).first().waitFor();
  if (await conflict.isVisible()) {
    await conflict.getByRole('button', { name: 'View nodes...' }).click();
    await page.click('#red-ui-clipboard-dialog-import-conflict');
    await page.locator('#red-ui-clipboard-dialog').waitFor({ state: 'hidden' });
  }
}

/** Presses Deploy; done when the button goes back to "nothing to deploy". */
async function deploy(page: Page): Promise<void> {
  await page.click('#red-ui-header-button-deploy');
  await page.locator('#red-ui-header-button-deploy.disabled').waitFor({ timeout: 30_000 });
}

/** Waits until the editor shows no tray (edit dialog). */
async function traysClosed(page: Page): Promise<void> {
  await page.waitForFunction(() => document.querySelectorAll('.red-ui-tray').length === 0);
}
