import type { Generation, JobInfo, JobSnapshot } from '../contract';
import { InvalidRequestError } from '../contract';
import { sleep } from '../http';
import type { HttpClient } from '../http';
import type { JobReader, ProviderApi, ProviderConnection } from '../providers';
import { adapterOf, isProviderApi } from '../providers';
import { downloadImages } from '../storage/download';
import { DEFAULT_POLL, JobError, outcomeOf, pollUntilDone } from './poll';
import type { PollOptions } from './poll';
import type { Completion } from './settings';
import { webhookRegistry } from './webhooks';
import type { WebhookExpectation } from './webhooks';

/** `waiting`: for a Max jobs slot or the rate limit of the provider config, before the submit is sent. */
export type Phase = 'waiting' | 'submitting' | 'pending' | 'processing' | 'downloading';

/** Keeps a durable record of jobs a node waits for (the pending-job journal). */
export interface JobRecorder {
  /** Just before the submit is sent: the job as far as it is known (no id yet), and its webhook secret's digest. */
  submitting(job: JobInfo, webhookSecretHash?: string): Promise<void>;
  /** The submit answered: the job now has its id (and, for a job handed on to job-poll, its webhook secret's digest). */
  submitted(job: JobInfo, webhookSecretHash?: string): Promise<void>;
  /** The job has ended, well or badly; not when the wait was aborted (it resumes). */
  ended(): Promise<void>;
}

export interface RunOptions {
  signal?: AbortSignal;
  recorder?: JobRecorder;
  completion: Completion;
  /** Fetch image bytes into `images[].data` (provider URLs expire). */
  download: boolean;
  poll?: Partial<Pick<PollOptions, 'initialDelayMs' | 'maxDelayMs' | 'timeoutMs'>>;
  onPhase?: (phase: Phase, elapsedMs: number) => void;
  /**
   * The path of a deployed job-webhook endpoint. Needed for completion `webhook`; with `job`, a
   * config that has a webhook URL asks for callbacks too, so a job-poll downstream can take them.
   */
  webhookPath?: string;
  /** Deliveries for this job (a resumed one, or one job-poll takes over); polling starts after the grace period. */
  expectation?: WebhookExpectation;
  /** The id of the node that submits: lists of pending jobs name it. */
  owner?: string;
}

/** The job's provider and how to read it, or a clear error saying why it cannot be waited for. */
function readerOf(job: JobInfo, byWebhook: boolean): { api: ProviderApi; poll: JobReader } {
  if (!isProviderApi(job.provider)) throw new InvalidRequestError(`msg.job.provider "${job.provider}" is not a provider this pack speaks`);
  const poll = adapterOf(job.provider).poll;
  if (!poll) throw new InvalidRequestError(`${job.provider} jobs finish at once; there is nothing to poll`);
  if (!job.id && !byWebhook) throw new InvalidRequestError('msg.job.id is missing: job-poll needs the id of a submitted job');
  return { api: job.provider as ProviderApi, poll };
}

/**
 * The one way a finished job becomes the message contract's `Generation` (a wait, job-poll, a
 * webhook delivered to an orphan): its images, the cost and expiry the provider reported last,
 * and when it completed.
 */
export function generationOf(job: JobInfo, snapshot: JobSnapshot, jobId: string | undefined = job.id): Generation {
  return {
    images: snapshot.images ?? [],
    job: {
      ...job,
      ...(jobId ? { id: jobId } : {}),
      status: 'completed',
      completedAt: new Date().toISOString(),
      cost: snapshot.cost ?? job.cost,
      expiresAt: snapshot.expiresAt ?? job.expiresAt,
    },
  };
}

/** Fetches the images' bytes when the node asks for them. */
export async function finish(client: HttpClient, generation: Generation, options: Pick<RunOptions, 'download' | 'onPhase' | 'signal'>): Promise<Generation> {
  if (!options.download) return generation;
  options.onPhase?.('downloading', 0);
  return { ...generation, images: await downloadImages(client, generation.images, options.signal, generation.job.id) };
}

/**
 * Completes a submitted job by polling, or by webhook with polling after the config's grace period
 * (the same path for a waiting submit node, a resumed job and job-poll), and returns it with its
 * images, merged cost and completion time.
 */
export async function completeJob(connection: ProviderConnection, job: JobInfo, options: RunOptions): Promise<Generation> {
  const reader = readerOf(job, Boolean(options.expectation));
  const client = await connection.client(reader.api);
  const pollOptions = {
    ...DEFAULT_POLL,
    ...options.poll,
    onUpdate: (update: JobSnapshot, elapsedMs: number) => options.onPhase?.(update.status === 'pending' ? 'pending' : 'processing', elapsedMs),
  };
  const poll = (signal?: AbortSignal): Promise<JobSnapshot> =>
    pollUntilDone(job.id as string, client.provider, (attempt) => reader.poll(client, job, attempt), { ...pollOptions, signal });
  const snapshot = options.expectation
    ? await webhookOrPoll(job, client.provider, options.expectation, connection.webhookGraceMs, pollOptions.timeoutMs, poll, options)
    : await poll(options.signal);
  return finish(client, generationOf(job, snapshot), options);
}

/**
 * Whichever comes first: the job's terminal webhook, or polling that starts after the grace period
 * (so a Node-RED that providers cannot reach still completes). The loser is stopped and the job is
 * settled, so later deliveries are ignored: one result per job. On abort (a redeploy) the job is
 * left unsettled, for the resumed wait to pick up.
 */
async function webhookOrPoll(
  job: JobInfo,
  provider: string,
  expectation: WebhookExpectation,
  graceMs: number,
  timeoutMs: number,
  poll: (signal: AbortSignal) => Promise<JobSnapshot>,
  options: RunOptions,
): Promise<JobSnapshot> {
  const loser = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, loser.signal]) : loser.signal;
  expectation.onProgress = (snapshot) => options.onPhase?.(snapshot.status === 'pending' ? 'pending' : 'processing', 0);
  const jobId = job.id ?? 'whose id is unknown';
  const byWebhook = expectation.terminal.then((snapshot) => outcomeOf(jobId, provider, snapshot) as JobSnapshot);
  const byPoll = job.id
    ? sleep(graceMs, signal).then(() => poll(signal))
    : sleep(graceMs + timeoutMs, signal).then(() => {
        throw new JobError(
          `${provider}: Node-RED stopped while this job was being submitted, so its id is unknown, and no webhook arrived. ` +
            `It may exist and be billed: look for it in ${provider}'s job list`,
          jobId,
          'timeout',
        );
      });
  // The loser may still settle (a failed-job webhook racing a completed poll): its outcome is dropped, not left unhandled.
  byPoll.catch(() => undefined);
  byWebhook.catch(() => undefined);
  try {
    return await Promise.race([byWebhook, byPoll]);
  } finally {
    loser.abort();
    expectation.onProgress = undefined;
    if (!options.signal?.aborted) webhookRegistry.settle(expectation);
  }
}

/** Max jobs slots of jobs handed on pending (completion `job`), until a waiter takes them over; oldest first. */
const handedOnSlots = new Map<string, { release: () => void; letGo: () => void; job: JobInfo; owner?: string; since: number }>();

/** A job handed on pending (completion `job`) that no job-poll has taken over yet, as lists of pending jobs show it. */
export interface HandedOnJob {
  job: JobInfo;
  /** The node that submitted it. */
  owner?: string;
  since: number;
}

/** How many jobs are handed on pending, and the `count` handed on first: reads `count` of them, however many there are. */
export function handedOnJobs(count: number): { total: number; oldest: HandedOnJob[] } {
  const oldest: HandedOnJob[] = [];
  for (const { job, owner, since } of handedOnSlots.values()) {
    if (oldest.length >= count) break;
    oldest.push({ job, owner, since });
  }
  return { total: handedOnSlots.size, oldest };
}
/**
 * A job handed on that no job-poll takes over within this long (a flow that stores msg.job to
 * collect later) stops counting against Max jobs, so it cannot block submits for good.
 */
const HANDED_ON_SLOT_MS = DEFAULT_POLL.timeoutMs;

/**
 * Keeps a submitted job's Max jobs slot for the job-poll that will wait for it, until one takes it,
 * HANDED_ON_SLOT_MS pass, or its provider config closes (its slots close with it); false when the
 * job has no id to find it by.
 */
export function handOn(connection: ProviderConnection, job: JobInfo, release: () => void, owner?: string): boolean {
  if (!job.id || connection.closing.aborted) return false;
  const key = `${job.provider}:${job.id}`;
  const expire = () => {
    letGo();
    release();
  };
  const timer = setTimeout(expire, HANDED_ON_SLOT_MS);
  timer.unref();
  connection.closing.addEventListener('abort', expire, { once: true });
  const letGo = () => {
    clearTimeout(timer);
    connection.closing.removeEventListener('abort', expire);
    handedOnSlots.delete(key);
  };
  handedOnSlots.set(key, { release, letGo, job, owner, since: Date.now() });
  return true;
}

/**
 * Waits for a submitted job (job-poll, or a job resumed after a restart) in a Max jobs slot of its
 * provider config: the slot its submit handed on, or a new one. Completion `job` + job-poll thus
 * never has more jobs in flight than Max jobs.
 */
export async function waitInSlot(connection: ProviderConnection, job: JobInfo, options: RunOptions): Promise<Generation> {
  const key = `${job.provider}:${job.id}`;
  const handed = job.id ? handedOnSlots.get(key) : undefined;
  handed?.letGo();
  const release =
    handed?.release ?? (await connection.concurrency.acquire(options.signal, { alreadyPaid: true, onWait: () => options.onPhase?.('waiting', 0) }));
  try {
    return await waitRecorded(connection, job, options);
  } finally {
    release();
  }
}

/** Waits for a recorded job; its journal entry is removed when the job has ended (not on abort: it resumes). */
export async function waitRecorded(connection: ProviderConnection, job: JobInfo, options: RunOptions): Promise<Generation> {
  try {
    const generation = await completeJob(connection, job, options);
    await options.recorder?.ended();
    return generation;
  } catch (error) {
    if (!options.signal?.aborted) await options.recorder?.ended();
    throw error;
  }
}
