import { WaitQueue, sleep } from './wait-queue';

export class LimiterQueueFullError extends Error {
  readonly statusKey = 'busy';
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

/** A request's place in the rate limit, from the grant until the request leaves. */
export interface RateGrant {
  /** The request is leaving now: it counts in the window from this moment. */
  sent(): void;
  /** The request will not be sent (its journal write failed, it was aborted): the place is given back. */
  cancel(): void;
}

/**
 * A sliding-window request limiter: in any `windowMs` interval at most `limit` requests leave.
 * A request counts from the moment it is sent (`RateGrant.sent`), not from its grant, so work done
 * between the two (the journal write before a paid submit) cannot bunch requests past the provider's
 * limit; granted requests not yet sent hold their place. A sliding log (rather than a token bucket)
 * never exceeds the provider's documented per-minute limit, however the provider's window is aligned.
 * Many requests at once are spread over the window instead of leaving in one burst: a burst of at
 * most a tenth of the limit, then one every `windowMs / limit` (a token bucket inside the window).
 */
export class RateLimiter {
  /** Send times of the last `limit` requests, oldest at `head`: a ring, so each request is O(1). */
  private readonly sends: Float64Array;
  private head = 0;
  private count = 0;
  /** Granted, not yet sent or cancelled. */
  private pending = 0;
  /** The token bucket: places for a burst, refilled at `limit` per window. */
  private readonly burst: number;
  private tokens: number;
  private refilledAt = performance.now();
  private readonly queue: WaitQueue;
  private pumping = false;
  private closed = false;
  private readonly stop = new AbortController();

  constructor(private readonly options: RateLimiterOptions) {
    this.sends = new Float64Array(options.limit);
    this.burst = Math.max(1, Math.ceil(options.limit / 10));
    this.tokens = this.burst;
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

  /** `onWait` is called when the request must wait for its place (a node's status says so). */
  async acquire(signal?: AbortSignal, onWait?: () => void): Promise<RateGrant> {
    if (this.closed) throw new Error(`${this.options.name}: the provider config was closed`);
    if (this.queue.length === 0 && this.reserve() === 0) return this.grant();
    onWait?.();
    const waiting = this.queue.wait(signal);
    void this.pump();
    await waiting;
    // The pump reserved this caller's place before waking it.
    return this.grant();
  }

  close(): void {
    this.closed = true;
    this.stop.abort();
    this.queue.rejectAll(new Error(`${this.options.name}: the provider config was closed`));
  }

  private grant(): RateGrant {
    let settled = false;
    return {
      sent: () => {
        if (settled) return;
        settled = true;
        this.pending--;
        this.sends[(this.head + this.count) % this.options.limit] = performance.now();
        this.count++;
        void this.pump();
      },
      cancel: () => {
        if (settled) return;
        settled = true;
        this.pending--;
        this.tokens = Math.min(this.burst, this.tokens + 1);
        void this.pump();
      },
    };
  }

  /** Takes a place if one is free now (0); otherwise how long until one may be (Infinity: when a granted request is sent or cancelled). */
  private reserve(): number {
    const now = performance.now();
    const { limit, windowMs } = this.options;
    while (this.count > 0 && now - this.sends[this.head] >= windowMs) {
      this.head = (this.head + 1) % limit;
      this.count--;
    }
    if (this.count + this.pending >= limit) return this.count > 0 ? this.sends[this.head] + windowMs - now : Number.POSITIVE_INFINITY;
    const perMs = limit / windowMs;
    this.tokens = Math.min(this.burst, this.tokens + (now - this.refilledAt) * perMs);
    this.refilledAt = now;
    if (this.tokens < 1) return (1 - this.tokens) / perMs;
    this.tokens -= 1;
    this.pending++;
    return 0;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const wait = this.reserve();
        if (wait === 0) {
          // Nobody left to take the place (the waiter was aborted): give it back.
          if (!this.queue.wakeNext()) {
            this.pending--;
            this.tokens = Math.min(this.burst, this.tokens + 1);
          }
          continue;
        }
        if (wait === Number.POSITIVE_INFINITY) break;
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

  /**
   * Resolves with a release function once a slot is held. `alreadyPaid`: the wait for a job already
   * submitted (resumed, or taken over by job-poll) is never refused for a full queue. `onWait` is
   * called when every slot is taken and the caller must wait.
   */
  async acquire(signal?: AbortSignal, options: { alreadyPaid?: boolean; onWait?: () => void } = {}): Promise<() => void> {
    if (this.active < this.options.max && this.queue.length === 0) {
      this.active++;
    } else {
      options.onWait?.();
      // A woken waiter inherits the releasing caller's slot, so `active` is not touched here.
      await this.queue.wait(signal, options.alreadyPaid);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (!this.queue.wakeNext()) this.active--;
    };
  }

  async run<T>(task: () => Promise<T>, signal?: AbortSignal, onWait?: () => void): Promise<T> {
    const release = await this.acquire(signal, { onWait });
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
