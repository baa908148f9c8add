import type { Generation, JobInfo, JobSnapshot, ResolvedRequest } from '../contract';
import { InvalidRequestError } from '../contract';
import type { HttpClient } from '../http';
import type { ProviderApi, ProviderConnection } from '../providers';
import { buildWorkerRequest, buildWorkersAiRun, generateWithWorker, generateWithWorkersAi } from '../providers/cloudflare';
import { buildPiapiTask, piapiTaskSnapshot, submitPiapiTask } from '../providers/piapi';
import type { PiapiTaskOptions } from '../providers/piapi';
import { buildFluxRequest, buildPixeldojoRun, catalogueFor, generateFlux, pixeldojoJobSnapshot, submitPixeldojoJob } from '../providers/pixeldojo';
import { downloadImages } from '../storage/download';
import { DEFAULT_POLL, pollUntilDone } from './poll';
import type { PollOptions } from './poll';

/** `wait`: send the finished result; `job`: send the pending `msg.job` at once (DESIGN.md). */
export type Completion = 'wait' | 'job';

export type Phase = 'submitting' | 'pending' | 'processing' | 'downloading';

/** Keeps a durable record of jobs a node waits for (the pending-job journal). */
export interface JobRecorder {
  /** Called right after the submit returned, before the node waits. */
  submitted(job: JobInfo): Promise<void>;
  /** Called when the job has ended, well or badly; not when the wait was aborted (it resumes). */
  ended(job: JobInfo): Promise<void>;
}

export interface RunOptions {
  signal?: AbortSignal;
  recorder?: JobRecorder;
  completion: Completion;
  /** Fetch image bytes into `images[].data` (provider URLs expire). */
  download: boolean;
  poll?: Partial<Pick<PollOptions, 'initialDelayMs' | 'maxDelayMs' | 'timeoutMs'>>;
  onPhase?: (phase: Phase, elapsedMs: number) => void;
}

/** Providers whose jobs finish later and are collected by polling. */
export type PollableProvider = 'pixeldojo' | 'piapi';

const SNAPSHOTS: Record<PollableProvider, (client: HttpClient, jobId: string, signal?: AbortSignal) => Promise<JobSnapshot>> = {
  pixeldojo: pixeldojoJobSnapshot,
  piapi: piapiTaskSnapshot,
};

export function isPollable(provider: string): provider is PollableProvider {
  return provider in SNAPSHOTS;
}

/** The provider and id of a job that can be polled, or a clear error saying why it cannot. */
function pollable(job: JobInfo): { provider: PollableProvider; jobId: string } {
  if (!isPollable(job.provider)) throw new InvalidRequestError(`${job.provider} jobs finish at once; there is nothing to poll`);
  if (!job.id) throw new InvalidRequestError('msg.job.id is missing: job-poll needs the id of a submitted job');
  return { provider: job.provider, jobId: job.id };
}

async function finish(client: HttpClient, generation: Generation, options: RunOptions): Promise<Generation> {
  if (!options.download) return generation;
  options.onPhase?.('downloading', 0);
  return { ...generation, images: await downloadImages(client, generation.images, options.signal, generation.job.id) };
}

/**
 * Completes a submitted job by polling (the same path for a waiting submit node and for job-poll),
 * and returns it with its images, merged cost and completion time.
 */
export async function completeJob(connection: ProviderConnection, job: JobInfo, options: RunOptions): Promise<Generation> {
  const { provider, jobId } = pollable(job);
  const client = await connection.client(provider);
  const fetchSnapshot = SNAPSHOTS[provider];
  const snapshot = await pollUntilDone(jobId, client.provider, (signal) => fetchSnapshot(client, jobId, signal), {
    ...DEFAULT_POLL,
    ...options.poll,
    signal: options.signal,
    onUpdate: (update, elapsedMs) => options.onPhase?.(update.status === 'pending' ? 'pending' : 'processing', elapsedMs),
  });
  const generation: Generation = {
    images: snapshot.images ?? [],
    job: {
      ...job,
      status: 'completed',
      completedAt: new Date().toISOString(),
      cost: snapshot.cost ?? job.cost,
      expiresAt: snapshot.expiresAt ?? job.expiresAt,
    },
  };
  return finish(client, generation, options);
}

/** Submits, then waits for the result or hands back the pending job, holding a concurrency slot while it waits. */
async function submitAndComplete(
  connection: ProviderConnection,
  api: ProviderApi,
  submit: (client: HttpClient) => Promise<JobInfo>,
  options: RunOptions,
): Promise<Generation | JobInfo> {
  const client = await connection.client(api);
  return connection.concurrency.run(async () => {
    options.onPhase?.('submitting', 0);
    const job = await submit(client);
    return options.completion === 'job' ? job : waitRecorded(connection, job, options);
  }, options.signal);
}

/** Waits for a job with the journal kept: recorded before the wait, removed when the job has ended. */
export async function waitRecorded(connection: ProviderConnection, job: JobInfo, options: RunOptions): Promise<Generation> {
  pollable(job);
  await options.recorder?.submitted(job);
  try {
    const generation = await completeJob(connection, job, options);
    await options.recorder?.ended(job);
    return generation;
  } catch (error) {
    if (!options.signal?.aborted) await options.recorder?.ended(job);
    throw error;
  }
}

/** flux-generate, synchronous `POST /flux`. */
export async function runPixeldojoFlux(connection: ProviderConnection, request: ResolvedRequest, options: RunOptions): Promise<Generation> {
  if (options.completion === 'job') {
    throw new InvalidRequestError('the synchronous /flux endpoint answers with the images: use completion "wait", or the jobs API for "job"');
  }
  const body = buildFluxRequest(request);
  const client = await connection.client('pixeldojo');
  return connection.concurrency.run(async () => {
    options.onPhase?.('submitting', 0);
    return finish(client, await generateFlux(client, body, options.signal), options);
  }, options.signal);
}

/** flux-generate, async jobs API (`POST /models/{apiId}/run`). */
export async function runPixeldojoJob(connection: ProviderConnection, request: ResolvedRequest, options: RunOptions): Promise<Generation | JobInfo> {
  const client = await connection.client('pixeldojo');
  const run = await buildPixeldojoRun(catalogueFor(client), request, options.signal);
  return submitAndComplete(connection, 'pixeldojo', (target) => submitPixeldojoJob(target, run, options.signal), options);
}

/** piapi-task: any Flux task type. */
export async function runPiapiTask(
  connection: ProviderConnection,
  request: ResolvedRequest,
  task: PiapiTaskOptions,
  options: RunOptions,
): Promise<Generation | JobInfo> {
  const body = buildPiapiTask(request, task);
  return submitAndComplete(connection, 'piapi', (client) => submitPiapiTask(client, body, options.signal), options);
}

export type WorkersAiEndpoint = 'worker' | 'rest';

/** workers-ai: the user's deployed worker, or the account REST API; both answer at once with bytes. */
export async function runWorkersAi(
  connection: ProviderConnection,
  request: ResolvedRequest,
  endpoint: WorkersAiEndpoint,
  options: RunOptions,
): Promise<Generation> {
  if (options.completion === 'job') throw new InvalidRequestError('Workers AI answers with the image at once: use completion "wait"');
  const viaRest = connection.kind === 'cloudflare' || (connection.kind === 'sandbox' && endpoint === 'rest');
  if (viaRest) {
    const run = buildWorkersAiRun(request);
    const client = await connection.client('cloudflare');
    const accountId = connection.kind === 'sandbox' ? (await connection.sandbox()).options.accountId : (connection.settings?.accountId as string);
    return connection.concurrency.run(() => {
      options.onPhase?.('submitting', 0);
      return generateWithWorkersAi(client, accountId, run, options.signal);
    }, options.signal);
  }
  const body = buildWorkerRequest(request);
  const client = await connection.client('workers-ai');
  return connection.concurrency.run(() => {
    options.onPhase?.('submitting', 0);
    return generateWithWorker(client, body, options.signal);
  }, options.signal);
}
