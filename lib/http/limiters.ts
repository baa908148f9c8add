import { WaitQueue, sleep } from './wait-queue';

export class LimiterQueueFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LimiterQueueFullError';
  }
}

export interface RateLimiterOptions {
  /** Requests allowed in any window. */
  limit: number;
  windowMs: number;
  /** Calls allowed to wait for a slot before new ones are refused. */
  maxWaiting: number;
  /** Used in the queue-full message, e.g. "PixelDojo (My key)". */
  name: string;
}

/**
 * A sliding-window request limiter: in any `windowMs` interval at most `limit` requests start.
 * A sliding log (rather than a token bucket) is used because it can never exceed the provider's
 * documented per-minute limit, however the provider's own window is aligned.
 */
export class RateLimiter {
  /** Start times of the last `limit` grants, oldest at `head`: a ring, so each grant is O(1). */
  private readonly grants: Float64Array;
  private head = 0;
  private count = 0;
  private readonly queue: WaitQueue;
  private pumping = false;
  private closed = false;
  private readonly stop = new AbortController();

  constructor(private readonly options: RateLimiterOptions) {
    this.grants = new Float64Array(options.limit);
    this.queue = new WaitQueue(
      options.maxWaiting,
      () =>
        new LimiterQueueFullError(
          `${options.name}: ${options.maxWaiting} requests are already waiting for the rate limit ` +
            `(${options.limit} per ${options.windowMs / 1000} s); slow the flow down or raise the limit in the provider config`,
        ),
    );
  }

  get waiting(): number {
    return this.queue.length;
  }

  async acquire(signal?: AbortSignal): Promise<void> {
    if (this.closed) throw new Error(`${this.options.name}: the provider config was closed`);
    if (this.queue.length === 0 && this.tryGrant()) return;
    const waiting = this.queue.wait(signal);
    void this.pump();
    await waiting;
  }

  close(): void {
    this.closed = true;
    this.stop.abort();
    this.queue.rejectAll(new Error(`${this.options.name}: the provider config was closed`));
  }

  private tryGrant(): boolean {
    const now = performance.now();
    const { limit, windowMs } = this.options;
    while (this.count > 0 && now - this.grants[this.head] >= windowMs) {
      this.head = (this.head + 1) % limit;
      this.count--;
    }
    if (this.count >= limit) return false;
    this.grants[(this.head + this.count) % limit] = now;
    this.count++;
    return true;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        if (this.tryGrant()) {
          this.queue.wakeNext();
          continue;
        }
        const wait = this.grants[this.head] + this.options.windowMs - performance.now();
        await sleep(Math.max(1, Math.ceil(wait)), this.stop.signal).catch(() => undefined);
      }
    } finally {
      this.pumping = false;
    }
  }
}

export interface ConcurrencyLimiterOptions {
  max: number;
  maxWaiting: number;
  name: string;
  /** What the user can do when the queue is full. */
  advice?: string;
}

/** At most `max` jobs in flight; the rest wait in a bounded FIFO. */
export class ConcurrencyLimiter {
  private active = 0;
  private readonly queue: WaitQueue;

  constructor(private readonly options: ConcurrencyLimiterOptions) {
    this.queue = new WaitQueue(
      options.maxWaiting,
      () =>
        new LimiterQueueFullError(
          `${options.name}: ${options.maxWaiting} jobs are already waiting for one of the ${options.max} ` +
            `concurrent job slots; ${options.advice ?? 'slow the flow down or raise "max concurrent jobs" in the provider config'}`,
        ),
    );
  }

  get inFlight(): number {
    return this.active;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Resolves with a release function once a slot is held. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.active < this.options.max && this.queue.length === 0) {
      this.active++;
    } else {
      // A woken waiter inherits the releasing caller's slot, so `active` is not touched here.
      await this.queue.wait(signal);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (!this.queue.wakeNext()) this.active--;
    };
  }

  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await task();
    } finally {
      release();
    }
  }

  close(): void {
    this.queue.rejectAll(new Error(`${this.options.name}: the provider config was closed`));
  }
}
