/**
 * Whether a request may be sent again, by what it is and how it failed.
 * A `read` has no side effect at the provider; a `submit` starts paid work, so it is repeated only
 * when the provider provably did not take it.
 */
export type RequestIntent = 'read' | 'submit';

export type AttemptFailure =
  | { kind: 'status'; status: number }
  /** `reachedServer` is false only when no connection was ever established. */
  | { kind: 'network'; reachedServer: boolean }
  | { kind: 'timeout'; reachedServer: boolean };

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** A server asking for a longer wait (Retry-After, X-RateLimit-Reset) is not waited out. */
  maxServerWaitMs: number;
  random?: () => number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 4,
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  maxServerWaitMs: 60_000,
};

const RETRYABLE_READ_STATUSES = new Set([408, 429]);

export function mayRetry(intent: RequestIntent, failure: AttemptFailure): boolean {
  if (intent === 'submit') {
    if (failure.kind === 'status') return failure.status === 429;
    return !failure.reachedServer;
  }
  if (failure.kind === 'status') return RETRYABLE_READ_STATUSES.has(failure.status) || failure.status >= 500;
  return true;
}

/** A failed submit is ambiguous when the provider may have started (and billed) the work. */
export function submitMayHaveBeenAccepted(failure: AttemptFailure): boolean {
  if (failure.kind === 'status') return failure.status >= 500;
  return failure.reachedServer;
}
