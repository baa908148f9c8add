import { z } from 'zod';
import type { Cost } from '../contract';
import { InvalidRequestError } from '../contract';
import { AppendLog } from '../storage/append-log';

/** What a provider bills in: PixelDojo in credits; PiAPI and Cloudflare in US dollars. */
export type CostUnit = 'credits' | 'usd';

export interface CostEstimate {
  unit: CostUnit;
  amount: number;
}

/** A submit that would take the day's spending past the config's budget; nothing was sent. */
export class BudgetExceededError extends InvalidRequestError {
  override readonly statusKey = 'overBudget';
  constructor(message: string) {
    super(message);
    this.name = 'BudgetExceededError';
  }
}

export interface SpendEntry {
  at: string;
  unit: CostUnit;
  estimate: number;
  /** What the provider reported, when it did. */
  actual?: number;
  jobId?: string;
  /** False while the submit is in flight. */
  sent: boolean;
}

/**
 * One sent submit's cost, a line of the ledger; compaction writes one per unit with the day's total
 * and how many submits it counts (absent: one).
 */
const spendRecordSchema = z.object({
  day: z.string(),
  unit: z.enum(['credits', 'usd']),
  amount: z.number().finite().nonnegative(),
  submits: z.number().int().nonnegative().optional(),
});
type SpendRecord = z.infer<typeof spendRecordSchema>;

export interface BudgetReport {
  /** The UTC day the totals are for. */
  day: string;
  /** The limit per day, in each unit this config bills in; undefined for no limit. */
  limit?: number;
  /** Spent (or reserved by submits in flight) today, per unit. */
  spent: Partial<Record<CostUnit, number>>;
  /** How many submits were sent or are in flight today. */
  submits: number;
  /** Today's latest submits, newest last (at most RECENT_ENTRIES). */
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
/** Submits listed in the report; the totals count every one. */
const RECENT_ENTRIES = 100;

/**
 * A provider config's spending per UTC day, checked before every paid submit in constant time:
 * running totals per unit, with submits in flight counted at their estimate so concurrent submits
 * cannot overshoot together. With a file, each sent submit appends one line to the ledger
 * (lib/storage/append-log.ts), so the day's spending and its count of submits survive a redeploy
 * or restart, with or without a limit: the editor shows them. Without a file they last until then.
 */
export class CreditBudget {
  private day = today();
  /** Sent today, per unit (actual cost where reported, else the estimate). */
  private spentToday: Partial<Record<CostUnit, number>> = {};
  /** Submits sent today, per unit (those `spentToday` counts). */
  private sentToday: Partial<Record<CostUnit, number>> = {};
  /** Reserved by submits in flight, per unit. */
  private inFlight: Partial<Record<CostUnit, number>> = {};
  private recent: SpendEntry[] = [];
  private submits = 0;
  private writing: Promise<void> = Promise.resolve();
  private readonly ledger?: AppendLog<SpendRecord>;

  constructor(
    /** Per UTC day, in each unit; undefined for no limit. */
    readonly limit: number | undefined,
    private readonly label: string,
    file?: string,
    warn: (message: string) => void = () => undefined,
  ) {
    if (file) {
      this.ledger = new AppendLog(file, spendRecordSchema, {
        warn: (message) => warn(`the spending ledger: ${message}`),
        snapshot: () =>
          (Object.entries(this.spentToday) as Array<[CostUnit, number]>).map(([unit, amount]) => ({
            day: this.day,
            unit,
            amount,
            submits: this.sentToday[unit] ?? 0,
          })),
        liveRecords: () => Object.keys(this.spentToday).length,
      });
      this.load(this.ledger);
    }
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
    const day = this.day;
    add(this.inFlight, entry.unit, entry.estimate);
    this.submits++;
    this.recent.push(entry);
    if (this.recent.length > RECENT_ENTRIES) this.recent.shift();
    let settled = false;
    return {
      sent: (jobId, cost) => {
        if (settled) return;
        settled = true;
        entry.sent = true;
        entry.jobId = jobId;
        const actual = cost?.[entry.unit];
        if (actual !== undefined && Number.isFinite(actual) && actual >= 0) entry.actual = actual;
        if (day !== this.day) return;
        add(this.inFlight, entry.unit, -entry.estimate);
        const amount = entry.actual ?? entry.estimate;
        add(this.spentToday, entry.unit, amount);
        add(this.sentToday, entry.unit, 1);
        this.record({ day, unit: entry.unit, amount });
      },
      release: () => {
        if (settled) return;
        settled = true;
        if (day !== this.day) return;
        add(this.inFlight, entry.unit, -entry.estimate);
        this.submits--;
        this.recent = this.recent.filter((candidate) => candidate !== entry);
      },
    };
  }

  report(): BudgetReport {
    this.rollOver();
    const spent: Partial<Record<CostUnit, number>> = {};
    for (const unit of new Set([...Object.keys(this.spentToday), ...Object.keys(this.inFlight)] as CostUnit[])) {
      if (this.spentToday[unit] !== undefined || this.total(unit) !== 0) spent[unit] = round(this.total(unit));
    }
    return { day: this.day, limit: this.limit, spent, submits: this.submits, jobs: [...this.recent] };
  }

  /** Resolves once every change so far is on disk. */
  flushed(): Promise<void> {
    return this.writing.catch(() => undefined);
  }

  private total(unit: CostUnit): number {
    return (this.spentToday[unit] ?? 0) + (this.inFlight[unit] ?? 0);
  }

  private rollOver(): void {
    const now = today();
    if (now === this.day) return;
    this.day = now;
    this.spentToday = {};
    this.sentToday = {};
    this.inFlight = {};
    this.recent = [];
    this.submits = 0;
  }

  private load(ledger: AppendLog<SpendRecord>): void {
    try {
      for (const record of ledger.readSync()) {
        if (record.day !== this.day) continue;
        add(this.spentToday, record.unit, record.amount);
        add(this.sentToday, record.unit, record.submits ?? 1);
        this.submits += record.submits ?? 1;
      }
    } catch {
      // An unreadable ledger costs the restart-survival of today's total, never the start of Node-RED.
    }
  }

  private record(record: SpendRecord): void {
    if (!this.ledger) return;
    // A ledger that cannot be written costs the restart-survival of today's total, not the submit.
    this.writing = this.ledger.append(record).catch(() => undefined);
  }
}

function add(totals: Partial<Record<CostUnit, number>>, unit: CostUnit, amount: number): void {
  totals[unit] = round((totals[unit] ?? 0) + amount);
}
