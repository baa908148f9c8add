import { z } from 'zod';
import type { Generation, JobInfo, JobSnapshot, ResolvedRequest } from '../contract';
import { InvalidRequestError, configuredRequestSchema } from '../contract';
import { ProviderError, sleep } from '../http';
import type { HttpClient } from '../http';
import type { CostEstimate, ProviderConnection } from '../providers';
import { buildWorkerRequest, buildWorkersAiRun, estimateWorkerCost, estimateWorkersAiCost, generateWithWorker, generateWithWorkersAi } from '../providers/cloudflare';
import { PIAPI_SERVICE_MODES, PIAPI_TASK_TYPES, buildPiapiTask, estimatePiapiCost, piapiTaskSnapshot, submitPiapiTask } from '../providers/piapi';
import type { PiapiTaskOptions } from '../providers/piapi';
import {
  buildFluxRequest,
  buildPixeldojoRun,
  catalogueFor,
  estimateFluxCost,
  estimatePixeldojoRunCost,
  generateFlux,
  pixeldojoJobSnapshot,
  submitPixeldojoJob,
} from '../providers/pixeldojo';
import { downloadImages } from '../storage/download';
import { DEFAULT_POLL, JobError, outcomeOf, pollUntilDone } from './poll';
import type { PollOptions } from './poll';
import { newWebhookSecret, webhookEndpointUrl, pixeldojoWebhookUrl, webhookRegistry, webhookSecretHash } from './webhooks';
import type { WebhookExpectation, WebhookProvider } from './webhooks';

/**
 * `wait`: send the finished result; `job`: send the pending `msg.job` at once; `webhook`: complete by
 * the provider's callback, with polling after a grace period (DESIGN.md).
 */
export const completionSchema = z.enum(['wait', 'job', 'webhook']);
export type Completion = z.infer<typeof completionSchema>;

/** The settings every node that submits paid jobs stores (DESIGN.md names); each node adds its own. */
export const submittingSettingsSchema = configuredRequestSchema.extend({
  completion: z.union([z.literal(''), completionSchema]).optional(),
  download: z.boolean().optional(),
});

/** flux-generate's settings. `endpoint`: `flux` is the synchronous POST /flux, `jobs` the async jobs API. */
export const fluxGenerateSettingsSchema = submittingSettingsSchema.extend({ endpoint: z.enum(['flux', 'jobs']).optional() });

/** piapi-task's settings; an empty service mode is the account's default. */
export const piapiTaskSettingsSchema = submittingSettingsSchema.extend({
  taskType: z.enum(PIAPI_TASK_TYPES).optional(),
  serviceMode: z.union([z.literal(''), z.enum(PIAPI_SERVICE_MODES)]).optional(),
});

export type Phase = 'submitting' | 'pending' | 'processing' | 'downloading';

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

/** The provider of a job that can be waited for, or a clear error saying why it cannot. */
function pollableProvider(job: JobInfo, byWebhook: boolean): PollableProvider {
  if (!isPollable(job.provider)) throw new InvalidRequestError(`${job.provider} jobs finish at once; there is nothing to poll`);
  if (!job.id && !byWebhook) throw new InvalidRequestError('msg.job.id is missing: job-poll needs the id of a submitted job');
  return job.provider;
}

async function finish(client: HttpClient, generation: Generation, options: RunOptions): Promise<Generation> {
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
  const provider = pollableProvider(job, Boolean(options.expectation));
  const client = await connection.client(provider);
  const pollOptions = {
    ...DEFAULT_POLL,
    ...options.poll,
    onUpdate: (update: JobSnapshot, elapsedMs: number) => options.onPhase?.(update.status === 'pending' ? 'pending' : 'processing', elapsedMs),
  };
  const poll = (signal?: AbortSignal): Promise<JobSnapshot> => {
    const jobId = job.id as string;
    return pollUntilDone(jobId, client.provider, (attempt) => SNAPSHOTS[provider](client, jobId, attempt), { ...pollOptions, signal });
  };
  const snapshot = options.expectation
    ? await webhookOrPoll(job, client.provider, options.expectation, connection.webhookGraceMs, pollOptions.timeoutMs, poll, options)
    : await poll(options.signal);
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

/** A per-job webhook for a submit, when the completion asks for one (checked before anything is sent). */
function webhookFor(connection: ProviderConnection, options: RunOptions): { hash: string; secret: string; url: string } | undefined {
  const wanted = options.completion === 'webhook' || (options.completion === 'job' && Boolean(connection.webhookBaseUrl) && Boolean(options.webhookPath));
  if (!wanted) return undefined;
  if (!options.webhookPath) throw new InvalidRequestError('completion "webhook" needs a job-webhook node: add one to a flow and deploy it');
  const url = webhookEndpointUrl(connection.webhookBaseUrl, options.webhookPath);
  const secret = newWebhookSecret();
  return { hash: webhookSecretHash(secret), secret, url };
}

/**
 * Runs a paid submit against the config's daily budget: refused before sending when the estimate
 * would pass it; the provider's reported cost is recorded when it answers; the reservation is
 * given back only when the request provably never reached the provider.
 */
async function charged<T extends Generation | JobInfo>(connection: ProviderConnection, estimate: CostEstimate | undefined, submit: () => Promise<T>): Promise<T> {
  const charge = connection.budget.reserve(estimate);
  try {
    const result = await submit();
    const job: JobInfo = 'images' in result ? (result as Generation).job : (result as JobInfo);
    charge.sent(job.id, job.cost);
    return result;
  } catch (error) {
    const mayExist = error instanceof ProviderError && (error.mayHaveBeenAccepted || error.kind === 'aborted');
    if (mayExist) charge.sent(error.jobId, undefined);
    else charge.release();
    throw error;
  }
}

interface AsyncSubmit {
  api: WebhookProvider;
  /** The job as known before the submit answers (for the journal). */
  draft: JobInfo;
  estimate: CostEstimate | undefined;
  send: (client: HttpClient, webhook: { secret: string; url: string } | undefined, beforeSend: () => Promise<void>) => Promise<JobInfo>;
}

/**
 * Submits, then waits for the result or hands back the pending job, holding a Max jobs slot while
 * it waits (for a job handed back, until a job-poll takes the slot over; see waitInSlot). A job it waits for is journaled just before the request leaves, and a job with a
 * webhook is expected before then too, so neither a restart nor a fast callback loses it.
 */
async function submitAndComplete(connection: ProviderConnection, submit: AsyncSubmit, options: RunOptions): Promise<Generation | JobInfo> {
  const client = await connection.client(submit.api);
  const webhook = webhookFor(connection, options);
  const recorder = options.completion === 'job' ? undefined : options.recorder;
  const release = await connection.concurrency.acquire(options.signal);
  let handedOn = false;
  try {
    options.onPhase?.('submitting', 0);
    const expectation = webhook && webhookRegistry.expect(submit.api, webhook.hash);
    let job: JobInfo;
    try {
      job = await charged(connection, submit.estimate, () =>
        submit.send(client, webhook, async () => {
          await recorder?.submitting(submit.draft, webhook?.hash);
        }),
      );
    } catch (error) {
      if (expectation) webhookRegistry.settle(expectation);
      if (!options.signal?.aborted) await recorder?.ended();
      throw error;
    }
    if (expectation && job.id) webhookRegistry.identify(expectation, job.id);
    if (options.completion === 'job') {
      handedOn = handOn(job, release);
      return job;
    }
    await recorder?.submitted(job);
    return await waitRecorded(connection, job, { ...options, expectation });
  } finally {
    if (!handedOn) release();
  }
}

/** Max jobs slots of jobs handed on pending (completion `job`), until a waiter takes them over. */
const handedOnSlots = new Map<string, { release: () => void; timer: NodeJS.Timeout }>();
/**
 * A job handed on that no job-poll takes over within this long (a flow that stores msg.job to
 * collect later) stops counting against Max jobs, so it cannot block submits for good.
 */
const HANDED_ON_SLOT_MS = DEFAULT_POLL.timeoutMs;

function handOn(job: JobInfo, release: () => void): boolean {
  if (!job.id) return false;
  const key = `${job.provider}:${job.id}`;
  const timer = setTimeout(() => {
    handedOnSlots.delete(key);
    release();
  }, HANDED_ON_SLOT_MS);
  timer.unref();
  handedOnSlots.set(key, { release, timer });
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
  if (handed) {
    clearTimeout(handed.timer);
    handedOnSlots.delete(key);
  }
  const release = handed?.release ?? (await connection.concurrency.acquire(options.signal, { alreadyPaid: true }));
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

/** flux-generate, synchronous `POST /flux`. */
export async function runPixeldojoFlux(connection: ProviderConnection, request: ResolvedRequest, options: RunOptions): Promise<Generation> {
  if (options.completion !== 'wait') {
    throw new InvalidRequestError(`the synchronous /flux endpoint answers with the images: use completion "wait", or the jobs API for "${options.completion}"`);
  }
  const body = buildFluxRequest(request);
  const client = await connection.client('pixeldojo');
  return connection.concurrency.run(async () => {
    options.onPhase?.('submitting', 0);
    return finish(client, await charged(connection, estimateFluxCost(body), () => generateFlux(client, body, options.signal)), options);
  }, options.signal);
}

/** flux-generate, async jobs API (`POST /models/{apiId}/run`). */
export async function runPixeldojoJob(connection: ProviderConnection, request: ResolvedRequest, options: RunOptions): Promise<Generation | JobInfo> {
  const client = await connection.client('pixeldojo');
  const run = await buildPixeldojoRun(catalogueFor(client), request, options.signal);
  return submitAndComplete(
    connection,
    {
      api: 'pixeldojo',
      draft: { provider: 'pixeldojo', model: run.model.apiId, status: 'pending', params: run.body },
      estimate: estimatePixeldojoRunCost(run),
      send: (target, webhook, beforeSend) =>
        submitPixeldojoJob(target, { ...run, webhookUrl: webhook && pixeldojoWebhookUrl(webhook.url, webhook.secret) }, { signal: options.signal, beforeSend }),
    },
    options,
  );
}

/** piapi-task: any Flux task type. */
export async function runPiapiTask(
  connection: ProviderConnection,
  request: ResolvedRequest,
  task: PiapiTaskOptions,
  options: RunOptions,
): Promise<Generation | JobInfo> {
  const body = buildPiapiTask(request, task);
  return submitAndComplete(
    connection,
    {
      api: 'piapi',
      draft: { provider: 'piapi', model: body.model, status: 'pending', params: { task_type: body.task_type, ...body.input } },
      estimate: estimatePiapiCost(body),
      send: (client, webhook, beforeSend) => {
        const config = webhook ? { ...body.config, webhook_config: { endpoint: webhook.url, secret: webhook.secret } } : body.config;
        return submitPiapiTask(client, { ...body, ...(config ? { config } : {}) }, { signal: options.signal, beforeSend });
      },
    },
    options,
  );
}

export type WorkersAiEndpoint = 'worker' | 'rest';

/** workers-ai's settings; `endpoint` is used with a sandbox config, where a worker or cloudflare config decides by its kind. */
export const workersAiSettingsSchema = configuredRequestSchema.extend({ endpoint: z.enum(['worker', 'rest']).optional() });

/** workers-ai: the user's deployed worker, or the account REST API; both answer at once with bytes. */
export async function runWorkersAi(
  connection: ProviderConnection,
  request: ResolvedRequest,
  endpoint: WorkersAiEndpoint,
  options: RunOptions,
): Promise<Generation> {
  if (options.completion !== 'wait') throw new InvalidRequestError('Workers AI answers with the image at once: use completion "wait"');
  const viaRest = connection.kind === 'cloudflare' || (connection.kind === 'sandbox' && endpoint === 'rest');
  if (viaRest) {
    const run = buildWorkersAiRun(request);
    const client = await connection.client('cloudflare');
    const accountId = connection.kind === 'sandbox' ? (await connection.sandbox()).options.accountId : (connection.settings?.accountId as string);
    return connection.concurrency.run(() => {
      options.onPhase?.('submitting', 0);
      return charged(connection, estimateWorkersAiCost(run), () => generateWithWorkersAi(client, accountId, run, options.signal));
    }, options.signal);
  }
  const body = buildWorkerRequest(request);
  const client = await connection.client('workers-ai');
  return connection.concurrency.run(() => {
    options.onPhase?.('submitting', 0);
    return charged(connection, estimateWorkerCost(body), () => generateWithWorker(client, body, options.signal));
  }, options.signal);
}
