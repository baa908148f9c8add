import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { REPO_ROOT } from '../../scripts/node-red-home';
import { clearFirstRunOverlays, ensureChromium, launchChromium, settleFirstRun, watchPage } from '../support/browser';
import { injectNode, onTab, startInstalledRuntime } from '../support/runtime';
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
      assert.deepEqual(await cutOffChoices(page), [], `${type}: choices wider than their select`);
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
        assert.deepEqual(await cutOffChoices(page), [], 'provider-config: choices wider than their select');
        await checkSettings(page, 'node-config-input', 'provider-config', PROVIDER_CONFIG_CHECKS);
        await page.click('#node-config-dialog-cancel');
        await kind.waitFor({ state: 'detached' });
      }
      await page.click('#node-dialog-cancel');
      await traysClosed(page);
    }
  });

  it("builds each generating node's Parameters form from the runtime's schemas, keeps a refused value with its message, round-trips JSON, and shows the cost", async () => {
    const field = (name: string) => page.locator(`#image-gen-param-${name}`);
    const errorOf = (name: string) =>
      page
        .locator('.image-gen-param', { has: field(name) })
        .locator('.image-gen-param-error')
        .innerText();
    const openDialog = async (example: string, id: string) => {
      const node = readExample(example).find((candidate) => candidate.id === id) as FlowNode;
      await page.evaluate((tab) => RED.workspaces.show(tab), node.z as string);
      await clearFirstRunOverlays(page);
      await page.dblclick(`${onCanvas(id)} .red-ui-flow-node`);
      await page.locator('#dialog-form').waitFor();
      await page.locator('#node-dialog-ok').click({ trial: true });
    };

    // flux-generate: /flux's fields, then BFL's per endpoint (flux-dev has steps, flux-pro-1.1 has none).
    await openDialog('flux-generate', 'fg.sync');
    assert.equal(await field('num_outputs').inputValue(), '2');
    assert.equal(await field('seed').inputValue(), '42');
    await field('num_outputs').fill('9');
    await field('num_outputs').dispatchEvent('change');
    assert.ok(await field('num_outputs').evaluate((input) => input.classList.contains('input-error')), 'num_outputs 9 is marked');
    assert.match(await errorOf('num_outputs'), /accepts: 1 to 4/);
    await page.click('#node-dialog-ok');
    await page.waitForTimeout(400);
    assert.ok(await page.locator('#node-dialog-ok').isVisible(), 'Done keeps the dialog open on a refused value');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'image-gen-param-num_outputs');
    await field('num_outputs').fill('3');
    await field('num_outputs').dispatchEvent('change');
    await checkLine(page, /about 3 credits per message/);
    await page
      .locator('.red-ui-tray')
      .last()
      .screenshot({ path: path.join(SCREENSHOTS, 'dialog-parameters-form.png'), style: QUIET });
    // JSON and back: the form writes what the JSON holds, and reads what is typed there.
    await page.click('.image-gen-params-toggle');
    const json = page.locator('#node-input-params-json');
    assert.deepEqual(JSON.parse(await json.inputValue()), { num_outputs: 3, aspect_ratio: '1:1', seed: 42 });
    await json.fill('{"num_outputs": 4, "aspect_ratio": "16:9", "seed": 7}');
    await page.click('.image-gen-params-toggle');
    assert.deepEqual([await field('num_outputs').inputValue(), await field('aspect_ratio').inputValue(), await field('seed').inputValue()], ['4', '16:9', '7']);
    await page.selectOption('#node-input-endpoint', 'bfl');
    await page.selectOption('#node-input-model-sync', 'flux-pro-1.1');
    await field('width').waitFor();
    assert.equal(await field('steps').count(), 0, 'flux-pro-1.1 takes no steps');
    await page.selectOption('#node-input-model-sync', 'flux-dev');
    await field('steps').waitFor();
    // /flux's parameters are kept, and BFL's flux-dev refuses them: the runtime says which, in its own words.
    await checkLine(page, /Unrecognized keys: .*"num_outputs"/);
    await page.click('.image-gen-params-toggle');
    await json.fill('{"steps": 30}');
    await page.click('.image-gen-params-toggle');
    assert.equal(await field('steps').inputValue(), '30');
    await checkLine(page, /about 2.5 credits per message/);
    await page.click('#node-dialog-cancel');
    await traysClosed(page);

    // The jobs API: a catalogue model's own published schema, read through the runtime; an editing model takes an image.
    await openDialog('flux-generate', 'fg.jobwait');
    await field('aspect_ratio').waitFor();
    assert.equal(await field('aspect_ratio').inputValue(), '4:3');
    assert.equal(await field('image_url').count(), 0, 'flux-dev edits no image');
    await chooseModel(page, 'flux-kontext-pro');
    await field('image_url').waitFor();
    await field('image_url').fill('not a url');
    await field('image_url').dispatchEvent('change');
    assert.ok(await field('image_url').evaluate((input) => input.classList.contains('input-error')), 'image_url "not a url" is marked');
    await page.click('#node-dialog-cancel');
    await traysClosed(page);

    // piapi-task: the task type decides the fields (img2img needs its image).
    await openDialog('piapi-task', 'pt.txt');
    assert.equal(await field('batch_size').inputValue(), '2');
    assert.equal(await field('image').count(), 0);
    await checkLine(page, /about 0.004 USD per message/);
    await page.selectOption('#node-input-taskType', 'img2img');
    await field('image').waitFor();
    await checkLine(page, /input.image/);
    await page.click('#node-dialog-cancel');
    await traysClosed(page);

    // leonardo-generate: one schema for every model; another model keeps the values, and the check follows it.
    await openDialog('leonardo-generate', 'lg.wait');
    assert.deepEqual([await field('width').inputValue(), await field('presetStyle').inputValue()], ['1024', 'CINEMATIC']);
    await field('num_images').fill('12');
    await field('num_images').dispatchEvent('change');
    assert.match(await errorOf('num_images'), /accepts: 1 to 8/);
    await field('num_images').fill('2');
    await field('num_images').dispatchEvent('change');
    await checkLine(page, /gives no price|about .* per message/);
    await chooseModel(page, '6b645e3a-d64f-4341-a6d8-7a3690fbf042');
    assert.equal(await field('width').inputValue(), '1024');
    await field('width').fill('1001');
    await field('width').dispatchEvent('change');
    assert.match(await errorOf('width'), /accepts: 32 to 1536, whole number, in steps of 8/);
    await page.click('#node-dialog-cancel');
    await traysClosed(page);

    // workers-ai: a deployed worker takes aspectRatio; the REST API's flux-1-schnell takes a seed instead.
    await openDialog('workers-ai', 'wa.worker');
    assert.deepEqual([await field('steps').inputValue(), await field('aspectRatio').inputValue()], ['6', '16:9']);
    assert.equal(await field('seed').count(), 0);
    await page.selectOption('#node-input-endpoint', 'rest');
    await chooseModel(page, '@cf/black-forest-labs/flux-1-schnell');
    await field('seed').waitFor();
    assert.equal(await field('aspectRatio').count(), 0);
    await checkLine(page, /Unrecognized key.*"aspectRatio"/);
    await page.click('#node-dialog-cancel');
    await traysClosed(page);

    // local-sd: this machine's parameters (its schedulers), then a VisionCraft Pro server's documented ones.
    await openDialog('local-sd', 'ls.gen');
    assert.deepEqual([await field('num_inference_steps').inputValue(), await field('scheduler').inputValue()], ['8', 'dpmpp_2m_karras']);
    await checkLine(page, /runs on this machine: nothing is charged/);
    await page.selectOption('#node-input-provider', 'image-gen.sandbox');
    await field('quality').waitFor();
    assert.equal(await field('scheduler').count(), 0);
    await field('num_inference_steps').fill('8');
    await field('num_inference_steps').dispatchEvent('change');
    assert.match(await errorOf('num_inference_steps'), /accepts: 15 to 50/);
    await page.click('#node-dialog-cancel');
    await traysClosed(page);

    // A saved value reaches the flow as params, as before.
    await openDialog('flux-generate', 'fg.sync');
    await field('seed').fill('99');
    await field('seed').dispatchEvent('change');
    await page.click('#node-dialog-ok');
    await traysClosed(page);
    assert.equal(await page.evaluate(() => (RED.nodes.node('fg.sync') as { params: { seed: number } }).params.seed), 99);
  });

  it('fills the image-gen sidebar as flows run: pending jobs (click to reveal the node), spending per provider config, the latest images', async () => {
    // A job that never finishes stays pending in the journal while its node waits for it.
    const waiting = [
      { id: 'sb.tab', type: 'tab', label: 'sidebar' },
      ...onTab('sb.tab', [
        { ...injectNode('sb.inject', 'a tower [sandbox:never]', ['sb.gen']), name: 'a pending job' },
        { id: 'sb.gen', type: 'flux-generate', name: 'never ends', provider: 'image-gen.sandbox', endpoint: 'jobs', model: 'flux-dev', wires: [[]] },
      ]),
    ];
    // A touch import places the nodes where they are, instead of attaching them to the mouse.
    await page.evaluate((nodes) => RED.view.importNodes(nodes, { touchImport: true }), waiting);
    await page.evaluate(() => RED.workspaces.show('sb.tab'));
    await deploy(page);
    await page.evaluate(() => RED.actions.invoke('image-gen:show-sidebar'));
    const sidebar = page.locator('.image-gen-sidebar');
    await sidebar.waitFor();
    await page.click(`${onCanvas('sb.inject')} .red-ui-flow-node-button-button`);
    const job = sidebar.locator('.image-gen-sidebar-job', { hasText: 'pixeldojo flux-dev' });
    await job.waitFor({ timeout: 15_000 });
    assert.match(await job.innerText(), /never ends · (pending|processing|submitting)/);
    // Revealing the node shows its flow, from wherever the editor is.
    const elsewhere = readExample('flux-generate').find((candidate) => candidate.type === 'tab') as FlowNode;
    await page.evaluate((tab) => RED.workspaces.show(tab), elsewhere.id);
    await job.click();
    await page.waitForFunction(() => RED.workspaces.active() === 'sb.tab');
    const spend = sidebar.locator('.image-gen-sidebar-spend').first();
    assert.match(await spend.innerText(), /Sandbox.*\n.*job\(s\) · sandbox, nothing charged/s);
    const thumb = sidebar.locator('.image-gen-sidebar-thumb').first();
    await thumb.waitFor();
    await thumb.click();
    assert.match(await sidebar.locator('.image-gen-sidebar-detail').innerText(), /\.(png|jpg|webp)\n(prompt: .*\n)?seed: \d+/);
    await sidebar.screenshot({ path: path.join(SCREENSHOTS, 'sidebar.png') });
  });

  it("stays readable in Node-RED 5's dark theme: the parameter form and the sidebar take the theme's colours", async function () {
    const major = Number((await page.evaluate(() => RED.settings.version)).split('.')[0]);
    if (major < 5) {
      console.log('\n  Node-RED 4 has no built-in dark theme: this runs on Node-RED 5 (npm run test:node-red-5)\n');
      this.skip();
    }
    // What the View > Appearance > Dark setting does (Node-RED 5): a class on the document.
    await page.evaluate(() => document.documentElement.classList.add('nr-theme-dark'));
    const luminance = (rgb: string) => {
      const [r, g, b] = (rgb.match(/\d+(\.\d+)?/g) ?? ['0', '0', '0']).map(Number);
      return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    };
    const node = readExample('flux-generate').find((candidate) => candidate.id === 'fg.sync') as FlowNode;
    await page.evaluate((tab) => RED.workspaces.show(tab), node.z as string);
    await page.dblclick(`${onCanvas('fg.sync')} .red-ui-flow-node`);
    await page.locator('#image-gen-param-num_outputs').waitFor();
    await page.locator('#node-dialog-ok').click({ trial: true });
    const label = await page
      .locator('.image-gen-param-label')
      .first()
      .evaluate((element) => getComputedStyle(element).color);
    assert.ok(luminance(label) > 0.5, `a parameter's label is light on the dark theme (${label})`);
    await page
      .locator('.red-ui-tray')
      .last()
      .screenshot({ path: path.join(SCREENSHOTS, 'dark-dialog-parameters-form.png'), style: QUIET });
    await page.click('#node-dialog-cancel');
    await traysClosed(page);
    await page.evaluate(() => RED.actions.invoke('image-gen:show-sidebar'));
    // The tab's own element (its rows are redrawn whenever the runtime says something changed).
    const sidebar = page.locator('.image-gen-sidebar');
    await sidebar.waitFor();
    const colour = await sidebar.evaluate((element) => getComputedStyle(element).color);
    assert.ok(luminance(colour) > 0.5, `the sidebar's text is light on the dark theme (${colour})`);
    await sidebar.screenshot({ path: path.join(SCREENSHOTS, 'dark-sidebar.png') });
    await page.evaluate(() => document.documentElement.classList.remove('nr-theme-dark'));
  });

  it('shows the help of every node of the pack, with its inputs, outputs and details', async () => {
    for (const type of nodeTypes) {
      await page.evaluate((name) => RED.sidebar.help.show(name), type);
      const help = page.locator('.red-ui-help').last();
      await help.waitFor();
      const text = await help.innerText();
      assert.match(text, /Details/, `${type}: help has Details`);
      if (type !== 'provider-config') assert.match(text, /Inputs|Outputs/, `${type}: help has Inputs / Outputs`);
      // Readable at the sidebar's default width: nothing runs past its edge (a sideways scroll bar).
      const overflow = await help.evaluate((element) => {
        let panel = element.parentElement as HTMLElement;
        while (panel.parentElement && !/auto|scroll/.test(getComputedStyle(panel).overflowX)) panel = panel.parentElement;
        const edge = panel.getBoundingClientRect().right;
        const widest = Array.from(element.querySelectorAll('*')).reduce<Element | undefined>(
          (found, candidate) => (candidate.getBoundingClientRect().right > (found?.getBoundingClientRect().right ?? edge) ? candidate : found),
          undefined,
        );
        return { by: panel.scrollWidth - panel.clientWidth, width: panel.clientWidth, widest: widest?.outerHTML.slice(0, 120) };
      });
      assert.ok(overflow.by <= 1, `${type}'s help is ${overflow.by} px wider than the ${overflow.width} px sidebar, at ${overflow.widest}`);
    }
  });
});

/** Menu > Import > Examples > the pack > `name` > Import, answering the conflict dialog as a user would. */
async function importExample(page: Page, name: string): Promise<void> {
  await clearFirstRunOverlays(page);
  const tab = (readExample(name).find((node) => node.type === 'tab') as FlowNode).id;
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
  // Done when the example's flow is in the workspace; a notice left from the previous import is no sign.
  const conflict = page.locator('.red-ui-notification', { hasText: 'already exist' });
  await page.waitForFunction((id) => Boolean(RED.nodes.workspace(id)) || document.body.innerText.includes('already exist'), tab);
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

/** Waits for the dialog's check line (the runtime's verdict, or the cost) to say `expected`; the error tells what it said. */
async function checkLine(page: Page, expected: RegExp): Promise<void> {
  const line = page.locator('#image-gen-check');
  let said = '';
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; await page.waitForTimeout(100)) {
    said = await line.innerText();
    if (expected.test(said)) return;
  }
  assert.fail(`the check line says "${said}", not ${String(expected)}`);
}

/** Picks a model in a dialog's text field as its list would, leaving the focus where it was. */
async function chooseModel(page: Page, model: string): Promise<void> {
  await page.evaluate((id) => {
    const input = document.getElementById('node-input-model') as HTMLInputElement;
    input.value = id;
    input.dispatchEvent(new Event('change', { bubbles: true }));
  }, model);
}

/**
 * The choices of the open dialog's visible setting selects whose text is wider than the select shows (its
 * width less the arrow), measured in the select's own font: a choice the user cannot read whole.
 */
async function cutOffChoices(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const context = document.createElement('canvas').getContext('2d') as CanvasRenderingContext2D;
    const tray = Array.from(document.querySelectorAll('.red-ui-tray')).at(-1) as Element;
    return (
      Array.from(tray.querySelectorAll('select'))
        // The node's own settings; the editor's own selects (the config node's scope, listing flow names) are not the pack's.
        .filter((select) => select.offsetParent !== null && /^node-(config-)?input-/.test(select.id))
        .flatMap((select) => {
          const style = getComputedStyle(select);
          context.font = `${style.fontSize} ${style.fontFamily}`;
          const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 16;
          return Array.from(select.options)
            .filter((option) => context.measureText(option.text).width > room)
            .map((option) => `#${select.id}: "${option.text}" (${Math.round(context.measureText(option.text).width)} px in ${Math.round(room)} px)`);
        })
    );
  });
}

/** Waits until the editor shows no tray (edit dialog). */
async function traysClosed(page: Page): Promise<void> {
  await page.waitForFunction(() => document.querySelectorAll('.red-ui-tray').length === 0);
}
