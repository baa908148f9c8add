import type { StatusKey } from '../contract';

/** What went wrong, in terms a retry policy and a person can both act on. */
export type FailureKind =
  | 'http' // the provider answered with an error status or error body
  | 'network' // the connection failed or was reset
  | 'timeout' // no complete answer within the configured time
  | 'aborted' // the caller cancelled (redeploy, close)
  | 'queue-full' // too many calls already waiting for a limiter
  | 'rate-limited' // the provider asked for a wait longer than the pack will wait
  | 'malformed'; // the provider's answer did not have the documented shape

export interface ProviderErrorDetails {
  provider: string;
  kind: FailureKind;
  status?: number;
  /** The provider's own error code, when its body carries one. */
  code?: string;
  retryable: boolean;
  jobId?: string;
  /** A paid submit failed ambiguously: the provider may have accepted (and billed) it. */
  mayHaveBeenAccepted?: boolean;
  retryAfterMs?: number;
  cause?: unknown;
}

/** The one error type every provider call fails with; its message is already free of credentials. */
export class ProviderError extends Error {
  readonly provider: string;
  readonly kind: FailureKind;
  readonly status?: number;
  readonly code?: string;
  readonly retryable: boolean;
  readonly jobId?: string;
  readonly mayHaveBeenAccepted: boolean;
  readonly retryAfterMs?: number;

  constructor(message: string, details: ProviderErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ProviderError';
    this.provider = details.provider;
    this.kind = details.kind;
    this.status = details.status;
    this.code = details.code;
    this.retryable = details.retryable;
    this.jobId = details.jobId;
    this.mayHaveBeenAccepted = details.mayHaveBeenAccepted ?? false;
    this.retryAfterMs = details.retryAfterMs;
  }

  /** The node status it shows: why the provider failed, in a word. */
  get statusKey(): StatusKey {
    if (this.kind === 'rate-limited' || this.status === 429) return 'rateLimited';
    if (this.kind === 'timeout') return 'timedOut';
    if (this.kind === 'queue-full') return 'busy';
    if (this.status === 401 || this.status === 403) return 'refused';
    return 'providerError';
  }
}

const MIN_SECRET_LENGTH = 4;

/** Replaces every occurrence of each secret (and its URL-encoded form) with a mask. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      out = out.split(form).join('[redacted]');
    }
  }
  return out;
}
