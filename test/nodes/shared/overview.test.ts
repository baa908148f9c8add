import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NodeAPI } from 'node-red';
import { handedOnJobs } from '../../../lib/jobs/complete';
import { overviewOf } from '../../../nodes/shared/overview';
import type { Overview } from '../../../nodes/shared/overview';
import { loadFlow } from '../../support/flow';
import { helper } from '../../support/node-red';

describe("the image-gen sidebar's overview: pending jobs, spending, saved images", function () {
  this.timeout(20_000);
  let userDir: string;
  let RED: NodeAPI | undefined;
  /** Hands the test the runtime's node API, as a node module would be given it. */
  const captureRuntime = (api: NodeAPI) => {
    RED = api;
  };
  /** The overview, asked again until it shows what is expected. */
  async function overviewWhere(expected: (overview: Overview) => boolean, what: string): Promise<Overview> {
    for (const deadline = Date.now() + 5000; ; await new Promise((resolve) => setTimeout(resolve, 20))) {
      const overview = await overviewOf(RED as NodeAPI);
      if (expected(overview)) return overview;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(overview.jobs)}`);
    }
  }
  before(() => helper.startServer());
  after(() => helper.stopServer());
  beforeEach(() => {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-overview-'));
    helper.settings({ userDir });
  });
  afterEach(async () => {
    await helper.unload();
    helper.settings({ userDir: undefined });
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  it('lists the jobs a node waits for and those handed on to the flow, longest waiting first, naming the node that submitted each', async () => {
    const generate = { type: 'flux-generate', endpoint: 'jobs', model: 'flux-dev', params: {} };
    const { run } = await loadFlow(
      ['flux-generate'],
      { ...generate, name: 'waits', completion: 'wait' },
      {
        extra: [{ id: 'hands', ...generate, provider: 'cfg', name: 'hands on', completion: 'job', wires: [[]] }],
        modules: [captureRuntime],
      },
    );
    void run({ prompt: 'a tower [sandbox:never]' }).catch(() => undefined);
    await overviewWhere((overview) => overview.jobs.listed[0]?.id !== undefined, 'the waited-for job');
    helper.getNode('hands').receive({ prompt: 'a bridge [sandbox:never]' });
    const seen = await overviewWhere((overview) => overview.jobs.total === 2, 'the handed-on job');
    const listed = seen.jobs.listed.map(({ node, nodeName, provider, model, state }) => ({ node, nodeName, provider, model, state }));
    assert.deepEqual(listed, [
      { node: 'n1', nodeName: 'waits', provider: 'pixeldojo', model: 'flux-dev', state: listed[0].state },
      { node: 'hands', nodeName: 'hands on', provider: 'pixeldojo', model: 'flux-dev', state: 'handed on' },
    ]);
    assert.match(listed[0].state, /^(pending|processing)$/);
    const [spend] = seen.spend;
    assert.equal(spend.config, 'cfg');
    assert.equal(spend.budget.submits, 2);
    assert.doesNotMatch(JSON.stringify(seen), /apiKey|credentials/);
    // Its provider config closed (a full deploy), the handed-on job's slot closes with it, and leaves the list.
    await helper.unload();
    assert.deepEqual(
      handedOnJobs(100).oldest.filter((handed) => handed.owner === 'hands'),
      [],
    );
  });
});
