import assert from 'node:assert/strict';
import { brokenPromises, formatReport, runSoak } from '../soak/chaos';

describe('the chaos soak, short: a real Node-RED under faults, redeploys and a kill -9 keeps every promise', function () {
  this.timeout(300_000);

  it('submits each of 240 jobs once and delivers each result or error exactly once, with nothing left open', async () => {
    const lines: string[] = [];
    const report = await runSoak({ jobs: 240, seed: 7, holdMs: 5_000, drainMs: 60_000, log: (line) => lines.push(line) });
    const printed = `${lines.join('\n')}\n${formatReport(report)}`;
    assert.deepEqual(brokenPromises(report), [], printed);
    assert.equal(report.jobsSubmitted, 240, printed);
    // The run is only worth something if the faults and interruptions happened.
    assert.ok(report.faultedShare > 0.1 && report.faultedShare < 0.3, printed);
    assert.ok(report.received429 > 0, printed);
    assert.ok(report.heldAcross >= 18, printed);
    assert.ok(report.results > 0 && report.errors > 0, printed);
  });
});
