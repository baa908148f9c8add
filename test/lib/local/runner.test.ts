import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InvalidRequestError } from '../../../lib/contract';
import { settleGeneration } from '../../../lib/local/params';
import { acquireRunner, CANCEL_GRACE_MS, LocalRunner, RunnerError, stopAllRunners } from '../../../lib/local/runner';
import { writeTinyModel } from '../../../lib/sandbox/tiny-sd';
import { cpuSeconds } from '../../support/cpu';
import { pngSize } from '../../support/png';

const settings = (overrides: Record<string, unknown> = {}) =>
  settleGeneration('a cat', { width: 64, height: 64, seed: 1, num_inference_steps: 4, ...overrides });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('local runner process', function () {
  this.timeout(60_000);
  let root: string;
  let tiny: string;
  let other: string;
  let runner: LocalRunner;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'runner-'));
    tiny = await writeTinyModel(path.join(root, 'tiny'));
    other = await writeTinyModel(path.join(root, 'other'), { seed: 2 });
  });
  beforeEach(() => (runner = new LocalRunner({ device: 'cpu', threads: 1 })));
  afterEach(() => runner.stop());
  after(() => rm(root, { recursive: true, force: true }));

  it('loads the model once, reports each step, and answers with the PNG, seed and timings', async () => {
    const events: string[] = [];
    const result = await runner.generate(tiny, settings(), {
      onLoading: () => events.push('loading'),
      onStep: (step, steps) => events.push(`${step}/${steps}`),
    });
    assert.deepEqual(events, ['loading', '1/4', '2/4', '3/4', '4/4']);
    assert.deepEqual(pngSize(result.png), { width: 64, height: 64 });
    assert.equal(result.seed, 1);
    assert.equal(result.device, 'cpu');
    assert.ok(result.timings.onnxRuns >= 6);
    events.length = 0;
    await runner.generate(tiny, settings(), { onLoading: () => events.push('loading') });
    assert.deepEqual(events, [], 'the second generation finds the model loaded');
  });

  it('runs one generation at a time, in order', async () => {
    const order: string[] = [];
    const run = (name: string) => runner.generate(tiny, settings(), { onStep: (step) => order.push(`${name}${step}`) });
    await Promise.all([run('a'), run('b'), run('c')]);
    assert.deepEqual(order, ['a1', 'a2', 'a3', 'a4', 'b1', 'b2', 'b3', 'b4', 'c1', 'c2', 'c3', 'c4']);
    assert.equal(runner.queued, 0);
  });

  it('cancels between steps and keeps the process and its model', async () => {
    const controller = new AbortController();
    await runner.load(tiny);
    const pid = runner.pid;
    const cancelled = runner.generate(tiny, settings({ num_inference_steps: 50 }), {
      signal: controller.signal,
      onStep: (step) => step === 2 && controller.abort(new Error('stop please')),
    });
    await assert.rejects(cancelled, /stop please/);
    assert.equal(runner.pid, pid, 'a graceful cancel keeps the runner');
    const events: string[] = [];
    await runner.generate(tiny, settings(), { onLoading: () => events.push('loading') });
    assert.deepEqual(events, []);
  });

  it('kills a runner that does not reach the next step in time, and starts a fresh one next', async () => {
    await runner.load(tiny);
    const pid = runner.pid as number;
    const controller = new AbortController();
    const started = Date.now();
    const pending = runner.generate(tiny, settings({ num_inference_steps: 50 }), {
      signal: controller.signal,
      onStep: (step) => {
        if (step !== 1) return;
        process.kill(pid, 'SIGSTOP'); // a step that never ends
        controller.abort(new Error('redeployed'));
      },
    });
    await assert.rejects(pending, /redeployed/);
    assert.ok(Date.now() - started < CANCEL_GRACE_MS + 1000, `stopped after ${Date.now() - started} ms`);
    assert.equal(runner.pid, undefined);
    const result = await runner.generate(tiny, settings());
    assert.notEqual(runner.pid, pid);
    assert.equal(result.seed, 1);
  });

  it('survives a crash of the runner process: the call fails clearly and the next one works', async () => {
    const pending = runner.generate(tiny, settings({ num_inference_steps: 50 }), {
      onStep: (step) => step === 2 && process.kill(runner.pid as number, 'SIGKILL'),
    });
    await assert.rejects(pending, (error: Error) => error instanceof RunnerError && /runner process stopped \(SIGKILL\)/.test(error.message));
    assert.deepEqual(pngSize((await runner.generate(tiny, settings())).png), { width: 64, height: 64 });
  });

  it('reports its device and memory, and restarts to switch models', async () => {
    assert.equal(await runner.status(), undefined, 'no process, no report');
    await runner.load(tiny);
    const report = await runner.status();
    assert.equal(report?.device, 'cpu');
    assert.equal(report?.loadedModel, tiny);
    assert.ok((report?.memoryTotalGb ?? 0) > 0 && (report?.processRssMb ?? 0) > 0);
    assert.match(String(report?.onnxruntimeVersion), /^\d+\.\d+/);
    const pid = runner.pid;
    await runner.generate(other, settings());
    assert.notEqual(runner.pid, pid, 'another model means a fresh process: released sessions do not give memory back');
    assert.equal((await runner.status())?.loadedModel, other);
    await runner.unload();
    assert.equal(runner.pid, undefined);
  });

  it('fails a broken model with the file named, as bad input', async () => {
    await assert.rejects(
      runner.generate(path.join(root, 'nowhere'), settings()),
      (error: Error) => error instanceof InvalidRequestError && /does not exist/.test(error.message),
    );
  });

  it('costs no CPU while idle', async () => {
    const idle = new LocalRunner({ device: 'cpu', threads: 4 });
    try {
      await idle.generate(tiny, settings());
      await sleep(200);
      const before = cpuSeconds(idle.pid as number);
      await sleep(1000);
      assert.ok(cpuSeconds(idle.pid as number) - before <= 0.05, `used ${cpuSeconds(idle.pid as number) - before} s of CPU in 1 s idle`);
    } finally {
      idle.stop();
    }
  });

  it('shares one runner per device and thread count between nodes', () => {
    const a = acquireRunner({ device: 'cpu', threads: 2 });
    const b = acquireRunner({ device: 'cpu', threads: 2 });
    const c = acquireRunner({ device: 'cpu', threads: 3 });
    assert.equal(a.runner, b.runner);
    assert.notEqual(a.runner, c.runner);
    [a, b, c].forEach((held) => held.release());
    stopAllRunners();
  });
});
