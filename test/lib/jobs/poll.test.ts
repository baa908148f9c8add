import assert from 'node:assert/strict';
import type { JobSnapshot } from '../../../lib/contract';
import { ProviderError } from '../../../lib/http';
import { JobError, jobPollSettingsSchema, pollUntilDone } from '../../../lib/jobs/poll';
import { rejectionOf } from '../../support/net';

function script(...steps: Array<JobSnapshot | Error>): { fetch: () => Promise<JobSnapshot>; calls: number[] } {
  const calls: number[] = [];
  const started = performance.now();
  return {
    calls,
    fetch: async () => {
      calls.push(performance.now() - started);
      const step = steps.shift() ?? { status: 'processing' };
      if (step instanceof Error) throw step;
      return step;
    },
  };
}
const fast = { initialDelayMs: 20, maxDelayMs: 80, timeoutMs: 5000, random: () => 1 };
const transient = () => new ProviderError('503', { provider: 'P', kind: 'http', status: 503, retryable: true });

describe('lib/jobs pollUntilDone', () => {
  it('waits before each poll with backoff that doubles up to the cap', async () => {
    const job = script(
      { status: 'pending' },
      { status: 'processing' },
      { status: 'processing' },
      { status: 'processing' },
      { status: 'completed', images: [{ url: 'u' }] },
    );
    const done = await pollUntilDone('j1', 'P', job.fetch, fast);
    assert.equal(done.images?.[0].url, 'u');
    const gaps = job.calls.map((at, index) => at - (job.calls[index - 1] ?? 0));
    // With random() = 1 the delays are 20, 40, 80, 80, 80 ms (timers may run late, never early).
    [20, 40, 80, 80, 80].forEach((expected, index) => assert.ok(gaps[index] >= expected - 1, `poll ${index}: ${gaps[index]} ms`));
    // Doubling past the cap would make the fifth delay 320 ms; the margin absorbs a busy machine's timer lag.
    assert.ok(gaps[4] < 300, `the delay stops growing at the cap (fifth gap ${gaps[4]} ms)`);
  });

  it('reports each snapshot with the elapsed time', async () => {
    const updates: Array<[string, number]> = [];
    const job = script({ status: 'pending' }, { status: 'completed' });
    await pollUntilDone('j1', 'P', job.fetch, { ...fast, onUpdate: (snapshot, elapsed) => updates.push([snapshot.status, elapsed]) });
    assert.deepEqual(
      updates.map(([status]) => status),
      ['pending', 'completed'],
    );
    assert.ok(updates[1][1] > updates[0][1]);
  });

  it('reads a job again after up to three unreadable answers in a row, and fails on the fourth', async () => {
    const unreadable = () =>
      new ProviderError('P sent an answer that is not JSON (HTTP 200)', { provider: 'P', kind: 'malformed', status: 200, retryable: false });
    const recovers = script(unreadable(), unreadable(), unreadable(), { status: 'processing' }, unreadable(), unreadable(), unreadable(), {
      status: 'completed',
    });
    assert.equal((await pollUntilDone('j1', 'P', recovers.fetch, fast)).status, 'completed');
    assert.equal(recovers.calls.length, 8);
    const fourth = unreadable();
    const broken = script(unreadable(), unreadable(), unreadable(), fourth, { status: 'completed' });
    assert.equal(await rejectionOf(pollUntilDone('j1', 'P', broken.fetch, fast)), fourth);
    assert.equal(broken.calls.length, 4);
  });

  it('rides out transient errors, and stops at a permanent one', async () => {
    assert.equal((await pollUntilDone('j1', 'P', script(transient(), transient(), { status: 'completed' }).fetch, fast)).status, 'completed');
    const refused = new ProviderError('401', { provider: 'P', kind: 'http', status: 401, retryable: false });
    const job = script(refused);
    assert.equal(await rejectionOf(pollUntilDone('j1', 'P', job.fetch, fast)), refused);
    assert.equal(job.calls.length, 1);
  });

  it('fails with the job id and the reason, for failed and expired jobs', async () => {
    const failed = await rejectionOf(pollUntilDone('j7', 'PiAPI', script({ status: 'failed', reason: 'NSFW' }).fetch, fast));
    assert.ok(failed instanceof JobError);
    assert.equal(failed.kind, 'failed');
    assert.equal(failed.message, 'PiAPI job j7 failed: NSFW');
    const expired = (await rejectionOf(pollUntilDone('j8', 'P', script({ status: 'expired' }).fetch, fast))) as JobError;
    assert.equal(expired.kind, 'expired');
    assert.match(expired.message, /job j8 expired/);
  });

  it('gives up at the total timeout with an error that says how to collect the job later', async () => {
    const job = script();
    const error = (await rejectionOf(pollUntilDone('j9', 'P', job.fetch, { ...fast, timeoutMs: 300 }))) as JobError;
    assert.equal(error.kind, 'timeout');
    assert.match(error.message, /P job j9 did not finish within 0 s\. It may still finish at the provider: send its msg.job to job-poll later/);
  });

  it('stops at once when aborted', async () => {
    const controller = new AbortController();
    const pending = rejectionOf(pollUntilDone('j1', 'P', script().fetch, { ...fast, initialDelayMs: 10_000, signal: controller.signal }));
    controller.abort();
    assert.equal((await pending).name, 'AbortError');
  });

  it("reads job-poll's settings with the range its editor uses: empty for the defaults, 1 to 86400000 ms", () => {
    assert.deepEqual(jobPollSettingsSchema.parse({ initialDelay: '', maxDelay: undefined, timeout: '5000', download: true }), {
      download: true,
      poll: { initialDelayMs: 2_000, maxDelayMs: 30_000, timeoutMs: 5_000 },
    });
    for (const refused of ['0', '100000000', '86400001', '12s', '1.5', -1]) {
      const parsed = jobPollSettingsSchema.safeParse({ timeout: refused });
      assert.equal(parsed.success, false, String(refused));
    }
    assert.equal(jobPollSettingsSchema.parse({ timeout: '86400000' }).poll.timeoutMs, 86_400_000);
  });
});
