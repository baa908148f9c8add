import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BudgetExceededError, CreditBudget } from '../../../lib/providers/budget';
import { estimateWorkerCost, estimateWorkersAiCost } from '../../../lib/providers/cloudflare';
import { estimatePiapiCost } from '../../../lib/providers/piapi';
import { estimateFluxCost, estimatePixeldojoRunCost } from '../../../lib/providers/pixeldojo';

const credit = (amount: number) => ({ unit: 'credits' as const, amount });

describe('lib/providers budget', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-budget-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses the submit that would pass the limit, naming what was spent', () => {
    const budget = new CreditBudget(2, 'PixelDojo (mine)');
    budget.reserve(credit(1)).sent('a', { credits: 1 });
    budget.reserve(credit(1)).sent('b', undefined);
    const refused = (() => {
      try {
        budget.reserve(credit(1));
      } catch (error) {
        return error;
      }
    })();
    assert.ok(refused instanceof BudgetExceededError);
    assert.match((refused as Error).message, /PixelDojo \(mine\): this request would cost about 1 credits and 2 of the 2 credits budget .* not sent/);
    assert.deepEqual(budget.report().spent, { credits: 2 });
  });

  it('counts submits in flight at their estimate, gives back a released one, and records the reported cost', () => {
    const budget = new CreditBudget(3, 'x');
    const first = budget.reserve(credit(2));
    assert.throws(() => budget.reserve(credit(2)), BudgetExceededError, 'an in-flight reservation counts');
    first.release();
    budget.reserve(credit(2)).sent('job-1', { credits: 0.5 });
    assert.deepEqual(budget.report().spent, { credits: 0.5 }, 'the provider reported cost replaces the estimate');
    assert.deepEqual(
      budget.report().jobs.map(({ jobId, estimate, actual, sent }) => ({ jobId, estimate, actual, sent })),
      [{ jobId: 'job-1', estimate: 2, actual: 0.5, sent: true }],
    );
  });

  it('keeps each unit against the limit separately, and refuses an unknown cost only when there is a limit', () => {
    const budget = new CreditBudget(1, 'sandbox');
    budget.reserve(credit(1)).sent('a', undefined);
    budget.reserve({ unit: 'usd', amount: 0.5 }).sent('b', { usd: 0.4 });
    assert.deepEqual(budget.report().spent, { credits: 1, usd: 0.4 });
    assert.throws(() => budget.reserve(undefined), /cost of this request is unknown/);
    assert.doesNotThrow(() => new CreditBudget(undefined, 'free').reserve(undefined).sent('c', undefined));
  });

  it("survives a restart: a new budget on the same file starts from today's spending", async () => {
    const file = path.join(dir, 'spend', 'cfg.jsonl');
    const budget = new CreditBudget(5, 'x', file);
    budget.reserve(credit(2)).sent('a', { credits: 2 });
    await budget.flushed();
    const again = new CreditBudget(5, 'x', file);
    assert.deepEqual(again.report().spent, { credits: 2 });
    assert.throws(() => again.reserve(credit(4)), BudgetExceededError);
  });

  it('starts from zero for a ledger of another day, and skips a line it cannot read', () => {
    const file = path.join(dir, 'cfg.jsonl');
    fs.writeFileSync(file, `${JSON.stringify({ day: '2001-01-01', unit: 'credits', amount: 9 })}\n`);
    assert.deepEqual(new CreditBudget(5, 'x', file).report().spent, {});
    const warnings: string[] = [];
    const day = new Date().toISOString().slice(0, 10);
    fs.writeFileSync(file, `${JSON.stringify({ day, unit: 'credits', amount: 1.5 })}\n{"day": "${day}", "unit`);
    assert.deepEqual(new CreditBudget(5, 'x', file, (message) => warnings.push(message)).report().spent, { credits: 1.5 });
    assert.match(warnings.join(), /last record was cut short/);
  });

  it('writes one short line per sent submit, with a limit or without one, so a redeploy or restart keeps the spending and the count of submits', async () => {
    const limited = path.join(dir, 'limited.jsonl');
    const budget = new CreditBudget(1_000_000, 'x', limited);
    for (let index = 0; index < 1_500; index++) budget.reserve(credit(1)).sent(`job-${index}`, { credits: 1 });
    await budget.flushed();
    const size = fs.statSync(limited).size;
    assert.ok(size / 1_500 < 64, `${size / 1_500} bytes per submit`);
    // 1,500 lines pass the compaction threshold (1,024): the totals and the count come back from the compacted file too.
    const reread = new CreditBudget(1_000_000, 'x', limited).report();
    assert.deepEqual([reread.spent, reread.submits], [{ credits: 1_500 }, 1_500]);
    const unlimited = path.join(dir, 'unlimited.jsonl');
    const free = new CreditBudget(undefined, 'x', unlimited);
    for (let index = 0; index < 50; index++) free.reserve(credit(1)).sent(`job-${index}`, { credits: 1 });
    await free.flushed();
    assert.ok(fs.statSync(unlimited).size / 50 < 64);
    const restarted = new CreditBudget(undefined, 'x', unlimited).report();
    assert.deepEqual([restarted.spent, restarted.submits], [{ credits: 50 }, 50]);
  });

  it('estimates each provider documented price before a submit', () => {
    assert.deepEqual(estimateFluxCost({ prompt: 'p', model: 'flux-1.1-pro-ultra', num_outputs: 2 } as Parameters<typeof estimateFluxCost>[0]), credit(3));
    assert.deepEqual(estimatePixeldojoRunCost({ model: { apiId: 'm', creditCost: 0.5 }, body: { num_outputs: 4 } }), credit(2));
    assert.equal(estimatePixeldojoRunCost({ model: { apiId: 'm' }, body: {} }), undefined);
    assert.deepEqual(estimatePiapiCost({ model: 'Qubico/flux1-schnell', task_type: 'txt2img', input: { batch_size: 3 } }), { unit: 'usd', amount: 0.006 });
    // 1024x1024 is 4 tiles; 16:9 is 1344x768, 3x2 = 6 tiles.
    assert.deepEqual(estimateWorkerCost({ prompt: 'p' }), { unit: 'usd', amount: 4 * 0.000053 + 4 * 0.00011 });
    assert.deepEqual(estimateWorkerCost({ prompt: 'p', aspectRatio: '16:9', steps: 8 }), {
      unit: 'usd',
      amount: Math.round((6 * 0.000053 + 8 * 0.00011) * 1e6) / 1e6,
    });
    assert.equal(estimateWorkersAiCost({ model: '@cf/other/model', body: {} }), undefined);
  });
});
