import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Cost } from '../contract';
import { InvalidRequestError } from '../contract';
import { writeFileAtomically } from '../storage/atomic';

/** What a provider bills in: PixelDojo in credits; PiAPI and Cloudflare in US dollars. */
export type CostUnit = 'credits' | 'usd';

export interface CostEstimate {
  unit: CostUnit;
  amount: number;
}

/** A submit that would take the day's spending past the config's budget; nothing was sent. */
export class BudgetExceededError extends InvalidRequestError {
  constructor(message: string) {
    super(message);
    this.name = 'BudgetExceededError';
  }
}

const spendEntrySchema = z.object({
  at: z.string(),
  unit: z.enum(['credits', 'usd']),
  estimate: z.number(),
  /** What the provider reported, when it did. */
  actual: z.number().optional(),
  jobId: z.string().optional(),
  /** False while the submit is in flight. */
  sent: z.boolean(),
});
export type SpendEntry = z.infer<typeof spendEntrySchema>;

const ledgerSchema = z.object({ version: z.literal(1), day: z.string(), entries: z.array(spendEntrySchema) });

export interface BudgetReport {
  /** The UTC day the totals are for. */
  day: string;
  /** The limit per day, in each unit this config bills in; undefined for no limit. */
  limit?: number;
  /** Spent (or reserved by submits in flight) today, per unit. */
  spent: Partial<Record<CostUnit, number>>;
  jobs: SpendEntry[];
}

/** A reservation against the budget, held while a submit is in flight. */
export interface BudgetCharge {
  /** The submit was sent: record what the provider reported (or keep the estimate). */
  sent(jobId: string | undefined, cost: Cost | undefined): void;
  /** The submit provably never reached the provider: give the reservation back. */
  release(): void;
}

const today = (): string => new Date().toISOString().slice(0, 10);
const round = (value: number): number => Math.round(value * 1e6) / 1e6;
/** Entries kept in the ledger file per day; totals stay exact beyond it because older ones are folded in. */
const LEDGER_ENTRIES = 500;

/**
 * A provider config's spending per UTC day, checked before every paid submit. Submits in flight
 * count at their estimate, so concurrent submits cannot overshoot together. With a file the day's
 * spending survives a restart (written atomically after every change).
 */
export class CreditBudget {
  private day = today();
  private entries: SpendEntry[] = [];
  /** Spending of entries folded out of `entries` (beyond LEDGER_ENTRIES). */
  private folded: Partial<Record<CostUnit, number>> = {};
  private writing: Promise<void> = Promise.resolve();

  constructor(
    /** Per UTC day, in each unit; undefined for no limit. */
    readonly limit: number | undefined,
    private readonly label: string,
    private readonly file?: string,
  ) {
    if (file) this.load(file);
  }

  /** Reserves an estimate, or refuses with a clear error when it would pass the day's limit. */
  reserve(estimate: CostEstimate | undefined): BudgetCharge {
    this.rollOver();
    if (this.limit !== undefined && !estimate) {
      throw new BudgetExceededError(`${this.label} has a daily budget, but the cost of this request is unknown, so it was not sent`);
    }
    const entry: SpendEntry = { at: new Date().toISOString(), unit: estimate?.unit ?? 'credits', estimate: estimate?.amount ?? 0, sent: false };
    const spent = this.total(entry.unit);
    if (this.limit !== undefined && spent + entry.estimate > this.limit + 1e-9) {
      throw new BudgetExceededError(
        `${this.label}: this request would cost about ${round(entry.estimate)} ${entry.unit} and ${round(spent)} of the ${this.limit} ${entry.unit} ` +
          `budget for ${this.day} (UTC) is spent, so it was not sent. Raise the budget in the provider config, or wait for tomorrow`,
      );
    }
    this.entries.push(entry);
    this.persist();
    return {
      sent: (jobId, cost) => {
        entry.sent = true;
        entry.jobId = jobId;
        const actual = cost?.[entry.unit];
        if (actual !== undefined && Number.isFinite(actual)) entry.actual = actual;
        this.persist();
      },
      release: () => {
        this.entries = this.entries.filter((candidate) => candidate !== entry);
        this.persist();
      },
    };
  }

  report(): BudgetReport {
    this.rollOver();
    const units = new Set<CostUnit>([...this.entries.map((entry) => entry.unit), ...(Object.keys(this.folded) as CostUnit[])]);
    const spent = Object.fromEntries([...units].map((unit) => [unit, round(this.total(unit))]));
    return { day: this.day, limit: this.limit, spent, jobs: [...this.entries] };
  }

  /** Resolves once every change so far is on disk. */
  flushed(): Promise<void> {
    return this.writing.catch(() => undefined);
  }

  private total(unit: CostUnit): number {
    return this.entries.filter((entry) => entry.unit === unit).reduce((sum, entry) => sum + (entry.actual ?? entry.estimate), this.folded[unit] ?? 0);
  }

  private rollOver(): void {
    const now = today();
    if (now === this.day) return;
    this.day = now;
    this.entries = [];
    this.folded = {};
    this.persist();
  }

  private load(file: string): void {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return;
    }
    try {
      const ledger = ledgerSchema.parse(JSON.parse(text));
      if (ledger.day === this.day) this.entries = ledger.entries;
    } catch {
      // An unreadable ledger is replaced at the next change; spending starts from zero, never blocks Node-RED.
    }
  }

  private persist(): void {
    while (this.entries.length > LEDGER_ENTRIES) {
      const [oldest] = this.entries.splice(0, 1);
      this.folded[oldest.unit] = (this.folded[oldest.unit] ?? 0) + (oldest.actual ?? oldest.estimate);
    }
    const file = this.file;
    if (!file) return;
    const folded = Object.entries(this.folded).map(([unit, amount]) => ({ at: `${this.day}T00:00:00.000Z`, unit, estimate: amount, sent: true }));
    const text = JSON.stringify({ version: 1, day: this.day, entries: [...folded, ...this.entries] }, null, 2);
    this.writing = this.writing
      .catch(() => undefined)
      .then(async () => {
        await fs.promises.mkdir(path.dirname(file), { recursive: true });
        await writeFileAtomically(file, text);
      });
    // A ledger that cannot be written costs the restart-survival of today's total, not the submit.
    this.writing.catch(() => undefined);
  }
}
