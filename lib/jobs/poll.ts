import { z } from 'zod';
import { optionalInteger } from '../editor/node-settings';
import type { JobSnapshot, StatusKey } from '../contract';
import { ProviderError, backoffDelay, sleep } from '../http';

export interface PollOptions {
  /** First wait, before the first poll. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Total time before giving up. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called after every poll (for node status). */
  onUpdate?: (snapshot: JobSnapshot, elapsedMs: number) => void;
  random?: () => number;
}

export const DEFAULT_POLL: Pick<PollOptions, 'initialDelayMs' | 'maxDelayMs' | 'timeoutMs'> = {
  initialDelayMs: 2_000,
  maxDelayMs: 30_000,
  timeoutMs: 600_000,
};

/** The range job-poll's delay and timeout settings accept, in ms (a day at most). */
const pollSetting = (fallback: number) => optionalInteger(1, 86_400_000).transform((value) => (value === '' || value === undefined ? fallback : value));

/** job-poll's flow JSON settings (empty for the defaults), as the poll options they mean; its editor validates with the same schema. */
export const jobPollSettingsSchema = z
  .object({
    initialDelay: pollSetting(DEFAULT_POLL.initialDelayMs),
    maxDelay: pollSetting(DEFAULT_POLL.maxDelayMs),
    timeout: pollSetting(DEFAULT_POLL.timeoutMs),
    download: z.boolean().optional(),
  })
  .transform(({ initialDelay, maxDelay, timeout, download }) => ({
    download: download === true,
    poll: { initialDelayMs: initialDelay, maxDelayMs: maxDelay, timeoutMs: timeout },
  }));

/** Unreadable poll answers in a row that are read again before the wait fails. */
const UNREADABLE_POLLS_TOLERATED = 3;

/** `moderated`: the provider's content moderation refused the request or its output (not a failure to retry as it is). */
export type JobFailureKind = 'failed' | 'moderated' | 'expired' | 'timeout';

/** A job that ended without a result; its message names the job id and what to do. */
export class JobError extends Error {
  constructor(
    message: string,
    readonly jobId: string,
    readonly kind: JobFailureKind,
  ) {
    super(message);
    this.name = 'JobError';
  }

  get statusKey(): StatusKey {
    const keys: Record<JobFailureKind, StatusKey> = { timeout: 'timedOut', expired: 'expired', moderated: 'moderated', failed: 'jobFailed' };
    return keys[this.kind];
  }
}

/**
 * Polls until the job completes, with exponential backoff and jitter (the providers advise 2 s
 * growing to 30 s). Transient poll failures are ridden out until the total timeout; a failed or
 * expired job, or a permanent error (bad key, unknown job), ends polling at once.
 */
export async function pollUntilDone(
  jobId: string,
  provider: string,
  fetchSnapshot: (signal?: AbortSignal) => Promise<JobSnapshot>,
  options: PollOptions,
): Promise<JobSnapshot> {
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  let unreadableInARow = 0;
  for (let attempt = 0; ; attempt++) {
    const delay = backoffDelay(attempt, { initialMs: options.initialDelayMs, maxMs: options.maxDelayMs, random: options.random });
    const remaining = options.timeoutMs - elapsed();
    if (remaining <= 0) throw timeoutError(jobId, provider, options.timeoutMs);
    await sleep(Math.min(delay, remaining), options.signal);
    let snapshot: JobSnapshot;
    try {
      snapshot = await fetchSnapshot(options.signal);
    } catch (error) {
      if (error instanceof ProviderError && error.retryable && error.kind !== 'aborted') continue;
      // A garbled answer to a read is usually a network or proxy hiccup, and the job is paid for: read it
      // again a few times before giving up on it (a provider whose answers changed shape fails soon enough).
      if (error instanceof ProviderError && error.kind === 'malformed' && ++unreadableInARow <= UNREADABLE_POLLS_TOLERATED) continue;
      throw error;
    }
    unreadableInARow = 0;
    options.onUpdate?.(snapshot, elapsed());
    const result = outcomeOf(jobId, provider, snapshot);
    if (result) return result;
  }
}

/**
 * What a snapshot means for the wait (polled or delivered by webhook): the completed snapshot, a
 * JobError for a failed or expired job, or undefined while the job is still running.
 */
export function outcomeOf(jobId: string, provider: string, snapshot: JobSnapshot): JobSnapshot | undefined {
  if (snapshot.status === 'completed') return snapshot;
  if (snapshot.status === 'failed' && snapshot.moderated) {
    throw new JobError(`${provider} job ${jobId} was moderated: ${snapshot.reason ?? 'the provider refused the request or its output'}`, jobId, 'moderated');
  }
  if (snapshot.status === 'failed') {
    throw new JobError(`${provider} job ${jobId} failed: ${snapshot.reason ?? 'no reason given'}`, jobId, 'failed');
  }
  if (snapshot.status === 'expired') {
    throw new JobError(`${provider} job ${jobId} expired before its result was collected; its outputs are gone`, jobId, 'expired');
  }
  return undefined;
}

function timeoutError(jobId: string, provider: string, timeoutMs: number): JobError {
  return new JobError(
    `${provider} job ${jobId} did not finish within ${Math.round(timeoutMs / 1000)} s. It may still finish at the provider: ` +
      `send its msg.job to job-poll later to collect it`,
    jobId,
    'timeout',
  );
}
