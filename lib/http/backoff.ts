export interface BackoffOptions {
  /** First delay before jitter. */
  initialMs: number;
  /** No delay exceeds this. */
  maxMs: number;
  /** Source of randomness in [0, 1); injectable so tests can pin the jitter. */
  random?: () => number;
}

/**
 * Exponential backoff with "equal jitter": half the exponential step is kept, half is random,
 * so retries from many callers spread out but never collapse to zero delay.
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const step = Math.min(options.maxMs, options.initialMs * 2 ** Math.max(0, attempt));
  return Math.round(step / 2 + random() * (step / 2));
}

const EPOCH_MS_THRESHOLD = 1e12;
const EPOCH_S_THRESHOLD = 1e9;

/**
 * How long the server asked us to wait, from `Retry-After` (seconds or an HTTP date) or,
 * failing that, `X-RateLimit-Reset` (epoch seconds, epoch ms, or seconds from now).
 */
export function serverRequestedWaitMs(headers: Readonly<Record<string, string | undefined>>, now: number = Date.now()): number | undefined {
  const retryAfter = headers['retry-after']?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.ceil(Number(retryAfter) * 1000);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const reset = headers['x-ratelimit-reset']?.trim();
  if (reset && /^\d+(\.\d+)?$/.test(reset)) {
    const value = Number(reset);
    if (value >= EPOCH_MS_THRESHOLD) return Math.max(0, value - now);
    if (value >= EPOCH_S_THRESHOLD) return Math.max(0, value * 1000 - now);
    return Math.ceil(value * 1000);
  }
  return undefined;
}
