import { randomBytes } from 'node:crypto';

/** How a sandbox job ends; chosen per job by a scripted queue or a `[sandbox:...]` prompt tag. */
/** `moderate`: the provider's content moderation refuses the finished job (it ends failed, saying so). */
export type JobOutcome = 'complete' | 'fail' | 'moderate' | 'expire' | 'never';

export type JobPhase = 'pending' | 'processing' | 'completed' | 'failed' | 'expired';

export interface SandboxJob<Extra = unknown> {
  id: string;
  createdAt: number;
  durationMs: number;
  outcome: JobOutcome;
  seed: number;
  extra: Extra;
}

export interface JobScript {
  outcome?: JobOutcome;
  durationMs?: number;
}

const OUTCOME_TAG = /\[sandbox:(complete|fail|moderate|expire|never)\]/i;

/** A `[sandbox:fail]`-style tag in a prompt picks the job's outcome, so flows can rehearse failures. */
export function outcomeFromPrompt(prompt: unknown): JobOutcome | undefined {
  if (typeof prompt !== 'string') return undefined;
  const match = OUTCOME_TAG.exec(prompt);
  return match ? (match[1].toLowerCase() as JobOutcome) : undefined;
}

/** The share of a job's duration it spends queued before it reports `processing`. */
const PENDING_SHARE = 0.25;

/**
 * Jobs whose phase follows from elapsed time, so reading a job never needs a timer; timers are
 * only used to notify webhooks at phase changes.
 */
export class JobStore<Extra> {
  private readonly jobs = new Map<string, SandboxJob<Extra>>();
  private readonly scripts: JobScript[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private counter = 0;

  constructor(
    private readonly prefix: string,
    private readonly defaultDurationMs: () => number,
  ) {}

  /** The next jobs created take these outcomes and durations, in order. */
  script(...scripts: JobScript[]): void {
    this.scripts.push(...scripts);
  }

  /** Every job's id, oldest first. */
  ids(): string[] {
    return [...this.jobs.keys()];
  }

  create(extra: Extra, options: { seed?: number; outcome?: JobOutcome }): SandboxJob<Extra> {
    const script = this.scripts.shift() ?? {};
    this.counter++;
    const job: SandboxJob<Extra> = {
      id: `${this.prefix}${this.counter.toString().padStart(4, '0')}_${randomBytes(4).toString('hex')}`,
      createdAt: Date.now(),
      durationMs: script.durationMs ?? this.defaultDurationMs(),
      outcome: options.outcome ?? script.outcome ?? 'complete',
      seed: options.seed ?? (this.counter * 7919) % 2147483647,
      extra,
    };
    this.jobs.set(job.id, job);
    return job;
  }

  get(id: string): SandboxJob<Extra> | undefined {
    return this.jobs.get(id);
  }

  list(): Array<SandboxJob<Extra>> {
    return [...this.jobs.values()];
  }

  get size(): number {
    return this.jobs.size;
  }

  phase(job: SandboxJob<Extra>, now: number = Date.now()): JobPhase {
    const elapsed = now - job.createdAt;
    if (elapsed < job.durationMs * PENDING_SHARE) return 'pending';
    if (elapsed < job.durationMs || job.outcome === 'never') return 'processing';
    if (job.outcome === 'fail' || job.outcome === 'moderate') return 'failed';
    if (job.outcome === 'expire') return 'expired';
    return 'completed';
  }

  /**
   * Calls `notify` when the job starts processing and when it reaches its final phase, passing the
   * phase the timer stands for: a timer may fire a millisecond early by `Date.now()`.
   */
  onPhaseChanges(job: SandboxJob<Extra>, notify: (phase: JobPhase) => void): void {
    const at = (delay: number, phase: JobPhase): void => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        notify(phase);
      }, delay);
      this.timers.add(timer);
    };
    at(job.durationMs * PENDING_SHARE, 'processing');
    if (job.outcome !== 'never') at(job.durationMs, this.phase(job, job.createdAt + job.durationMs));
  }

  /** Ends every job still running now, each as its outcome says (a provider that catches up at once). */
  finishAll(now: number = Date.now()): void {
    for (const job of this.jobs.values()) {
      if (job.outcome !== 'never' && now - job.createdAt < job.durationMs) job.durationMs = now - job.createdAt;
    }
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
