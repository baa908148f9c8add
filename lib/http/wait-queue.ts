interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
  detach: () => void;
}

/**
 * A bounded FIFO of callers waiting for something (a request slot, a concurrency slot).
 * Waiting is abortable, and a full queue fails at once instead of growing without limit.
 */
export class WaitQueue {
  private readonly waiters: Waiter[] = [];

  constructor(
    private readonly maxWaiting: number,
    private readonly fullError: () => Error,
  ) {}

  get length(): number {
    return this.waiters.length;
  }

  /** `unbounded`: a caller that must not be refused (a job already paid for) waits however full the queue is. */
  wait(signal?: AbortSignal, unbounded = false): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (!unbounded && this.waiters.length >= this.maxWaiting) return Promise.reject(this.fullError());
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(abortReason(signal));
      };
      const waiter: Waiter = {
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Lets the longest waiter through; false when nobody waits. */
  wakeNext(): boolean {
    const waiter = this.waiters.shift();
    if (!waiter) return false;
    waiter.detach();
    waiter.resolve();
    return true;
  }

  /** Fails every waiter, for shutdown. */
  rejectAll(error: Error): void {
    for (const waiter of this.waiters.splice(0)) {
      waiter.detach();
      waiter.reject(error);
    }
  }
}

export function abortReason(signal: AbortSignal | undefined): unknown {
  return signal?.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** setTimeout as a promise that an AbortSignal cancels (and whose timer it clears). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
