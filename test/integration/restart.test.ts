import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { JOURNAL_FILE } from '../../lib/jobs/journal';
import { SANDBOX_API_KEY, startSandbox } from '../../lib/sandbox';
import type { SandboxServer } from '../../lib/sandbox';
import { waitFor } from '../support/net';
import { injectNode, onTab, startRuntime } from '../support/runtime';
import type { Runtime } from '../support/runtime';
import { journaledJobs } from '../support/journal';
import { RECENT_IMAGES_FILE } from '../../nodes/shared/overview';

describe('a paid job survives a Node-RED restart', function () {
  this.timeout(120_000);
  // The provider must outlive Node-RED, so the sandbox runs here and the config points at it as PixelDojo.
  let sandbox: SandboxServer;
  let runtime: Runtime | undefined;
  before(async () => {
    sandbox = await startSandbox();
  });
  // Each test ends with its restarted Node-RED still running: it is stopped before the next starts its own.
  afterEach(async () => {
    await runtime?.stop();
    runtime = undefined;
  });
  after(() => sandbox.close());

  it('stops mid-job, starts again with the same user directory, and delivers the result once with the original message', async () => {
    runtime = await startRuntime();
    const userDir = runtime.userDir;
    const flow = [
      { id: 'tab', type: 'tab', label: 'restart' },
      {
        id: 'cfg',
        type: 'provider-config',
        name: 'pixeldojo',
        kind: 'pixeldojo',
        baseUrl: sandbox.baseUrl('pixeldojo'),
        credentials: { apiKey: SANDBOX_API_KEY },
      },
      ...onTab('tab', [
        injectNode('go', 'a lighthouse', ['gen'], 'keep-this-topic'),
        { id: 'gen', type: 'flux-generate', provider: 'cfg', endpoint: 'jobs', model: 'flux-dev', params: {}, completion: 'wait', wires: [['show']] },
        { id: 'show', type: 'debug', name: 'after restart', active: true, console: true, tosidebar: false, complete: 'true', wires: [] },
      ]),
    ];
    await runtime.deploy(flow);
    sandbox.scriptJobs('pixeldojo', { durationMs: 15_000 });
    await runtime.press('go');
    const journalFile = path.join(userDir, JOURNAL_FILE);
    await waitFor(() => journaledJobs(journalFile)[0]?.job.id, 10_000, 'the job in the journal');

    await runtime.stop({ keepUserDir: true });
    const recorded = journaledJobs(journalFile);
    assert.equal(recorded.length, 1, 'the job is still journaled after the stop');
    assert.equal(recorded[0].msg.topic, 'keep-this-topic');

    runtime = await startRuntime('', userDir);
    await waitFor(() => runtime?.log().includes('[debug:after restart]'), 60_000, 'the resumed result');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const log = runtime.log();
    assert.equal(log.split('[debug:after restart]').length - 1, 1, 'delivered exactly once');
    assert.match(log, /topic: 'keep-this-topic'/);
    assert.match(log, /status: 'completed'/);
    assert.equal(sandbox.requestsTo('pixeldojo', 'POST').length, 1, 'submitted once');
    assert.deepEqual(journaledJobs(journalFile), []);
  });

  it("keeps the image-gen sidebar's latest saved images across a restart", async () => {
    runtime = await startRuntime();
    const userDir = runtime.userDir;
    const flow = [
      { id: 'tab', type: 'tab', label: 'images' },
      { id: 'cfg', type: 'provider-config', name: 'sandbox', kind: 'sandbox' },
      ...onTab('tab', [
        injectNode('go', 'a lighthouse', ['gen']),
        { id: 'gen', type: 'flux-generate', provider: 'cfg', endpoint: 'flux', model: 'flux-pro', params: { seed: 42 }, completion: 'wait', wires: [['save']] },
        { id: 'save', type: 'save-image', directory: 'images', filename: '{seed}-{index}', collision: 'unique', preview: true, wires: [[]] },
      ]),
    ];
    await runtime.deploy(flow);
    await runtime.press('go');
    const images = async () =>
      ((await runtime?.call('GET', '/image-gen/overview'))?.json() as { images: Array<{ file: string; seed?: number; src: string }> }).images;
    let before: Awaited<ReturnType<typeof images>> = [];
    for (const deadline = Date.now() + 30_000; before.length === 0; await new Promise((resolve) => setTimeout(resolve, 100))) {
      before = await images();
      assert.ok(Date.now() < deadline, 'the saved image in the overview');
    }
    assert.equal(before[0].seed, 42);
    assert.match(before[0].src, /^data:image\//);
    // Written to disk before the stop: the overview shows it as soon as it is kept in memory.
    const kept = path.join(userDir, RECENT_IMAGES_FILE);
    await waitFor(() => fs.existsSync(kept) && fs.readFileSync(kept, 'utf8').includes(before[0].file), 10_000, 'the image in its file');

    await runtime.stop({ keepUserDir: true });
    runtime = await startRuntime('', userDir);
    assert.deepEqual(await images(), before);
  });

  it('completes a job handed on to job-poll by its webhook after a restart, without polling', async () => {
    runtime = await startRuntime();
    const { userDir, port } = runtime;
    const flow = [
      { id: 'tab', type: 'tab', label: 'restart' },
      {
        id: 'cfg',
        type: 'provider-config',
        name: 'piapi',
        kind: 'piapi',
        baseUrl: sandbox.baseUrl('piapi'),
        credentials: { apiKey: SANDBOX_API_KEY },
        webhookBaseUrl: `http://127.0.0.1:${port}`,
        webhookGrace: '3600',
      },
      ...onTab('tab', [
        injectNode('go', 'a kite', ['gen'], 'handed-on'),
        {
          id: 'gen',
          type: 'piapi-task',
          provider: 'cfg',
          model: 'Qubico/flux1-schnell',
          taskType: 'txt2img',
          params: {},
          completion: 'job',
          wires: [['poll']],
        },
        // Polling would start after an hour: only the webhook can complete the job within the test.
        { id: 'poll', type: 'job-poll', provider: 'cfg', initialDelay: '3600000', maxDelay: '3600000', timeout: '', wires: [['show']] },
        { id: 'hook', type: 'job-webhook', path: '/image-gen/webhook', wires: [[]] },
        { id: 'show', type: 'debug', name: 'by webhook', active: true, console: true, tosidebar: false, complete: 'true', wires: [] },
      ]),
    ];
    await runtime.deploy(flow);
    sandbox.scriptJobs('piapi', { durationMs: 12_000 });
    await runtime.press('go');
    const journalFile = path.join(userDir, JOURNAL_FILE);
    await waitFor(() => journaledJobs(journalFile).find((entry) => entry.nodeId === 'poll' && entry.job.id), 10_000, "job-poll's journal entry");
    assert.ok(journaledJobs(journalFile).find((entry) => entry.nodeId === 'poll')?.webhookSecretHash, "the entry keeps the webhook secret's digest");

    await runtime.stop({ keepUserDir: true });
    runtime = await startRuntime('', userDir, undefined, port);
    await waitFor(() => runtime?.log().includes('[debug:by webhook]'), 30_000, 'the result by webhook after the restart');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const log = runtime.log();
    assert.equal(log.split('[debug:by webhook]').length - 1, 1, 'delivered exactly once');
    assert.match(log, /topic: 'handed-on'/);
    assert.equal(sandbox.requestsTo('piapi', 'GET').length, 0, 'no poll was needed');
    assert.ok(
      sandbox.webhooks.some((delivery) => delivery.status === 200),
      JSON.stringify(sandbox.webhooks.map(({ status, error }) => ({ status, error }))),
    );
    assert.deepEqual(journaledJobs(journalFile), []);
  });
});
