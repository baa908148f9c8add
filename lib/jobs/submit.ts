import type { Generation, JobInfo } from '../contract';
import { InvalidRequestError } from '../contract';
import { ProviderError } from '../http';
import type { CallbackTarget, CostEstimate, JobSubmission, ProviderApi, ProviderConnection, Submission } from '../providers';
import { adapterOf } from '../providers';
import { finish, handOn, waitRecorded } from './complete';
import type { RunOptions } from './complete';
import { newWebhookSecret, webhookEndpointUrl, webhookRegistry, webhookSecretHash } from './webhooks';

/**
 * Sends a checked submission through a provider config and completes it as `options.completion`
 * says: an immediate one answers with the images; a job is waited for, or handed on pending.
 */
export async function submit(connection: ProviderConnection, api: ProviderApi, submission: Submission, options: RunOptions): Promise<Generation | JobInfo> {
  if (submission.kind === 'job') return submitAndComplete(connection, api, submission, options);
  if (options.completion !== 'wait') {
    throw new InvalidRequestError(`${connection.label} answers with the images at once: use completion "wait"`);
  }
  const client = await connection.client(api);
  return connection.concurrency.run(
    async () => {
      options.onPhase?.('submitting', 0);
      return finish(client, await charged(connection, submission.estimate, () => submission.generate(client, options.signal)), options);
    },
    options.signal,
    () => options.onPhase?.('waiting', 0),
  );
}

/** How a submit's job will be recognised when its provider calls back; undefined when no callback is wanted. */
type Callback = { perJob: CallbackTarget & { hash: string } } | { keyed: (jobId: string) => string };

/**
 * The webhook a submit asks for, when its completion wants one, checked before anything is sent: a
 * per-job URL and secret sent with the submit, or, for a provider that calls back one URL per
 * account with the config's callback key, the digest each job will be known by once it has an id.
 */
function callbackFor(connection: ProviderConnection, api: ProviderApi, options: RunOptions): Callback | undefined {
  const jobSecret = adapterOf(api).webhook?.jobSecret;
  const key = connection.webhookKey;
  const configured = jobSecret ? Boolean(key) : Boolean(connection.webhookBaseUrl);
  const wanted = options.completion === 'webhook' || (options.completion === 'job' && configured && Boolean(options.webhookPath));
  if (!wanted) return undefined;
  if (!options.webhookPath) throw new InvalidRequestError('completion "webhook" needs a job-webhook node: add one to a flow and deploy it');
  if (jobSecret) {
    if (!key) {
      throw new InvalidRequestError(
        `completion "webhook" with ${connection.label} needs the webhook callback key you set for the API key at the provider: add it to the provider config`,
      );
    }
    return { keyed: (jobId) => webhookSecretHash(jobSecret(key, jobId)) };
  }
  const url = webhookEndpointUrl(connection.webhookBaseUrl, options.webhookPath);
  const secret = newWebhookSecret();
  return { perJob: { hash: webhookSecretHash(secret), secret, url } };
}

/**
 * Runs a paid submit against the config's daily budget: refused before sending when the estimate
 * would pass it; the provider's reported cost is recorded when it answers; the reservation is
 * given back only when the request provably never reached the provider.
 */
async function charged<T extends Generation | JobInfo>(connection: ProviderConnection, estimate: CostEstimate | undefined, send: () => Promise<T>): Promise<T> {
  const charge = connection.budget.reserve(estimate);
  try {
    const result = await send();
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

/**
 * Submits, then waits for the result or hands back the pending job, holding a Max jobs slot while
 * it waits (for a job handed back, until a job-poll takes the slot over; see waitInSlot). A job it
 * waits for is journaled just before the request leaves, and a job with a webhook is expected
 * before then too, so neither a restart nor a fast callback loses it.
 */
async function submitAndComplete(
  connection: ProviderConnection,
  api: ProviderApi,
  submission: JobSubmission,
  options: RunOptions,
): Promise<Generation | JobInfo> {
  const client = await connection.client(api);
  const callback = callbackFor(connection, api, options);
  const perJob = callback && 'perJob' in callback ? callback.perJob : undefined;
  const recorder = options.completion === 'job' ? undefined : options.recorder;
  const waiting = () => options.onPhase?.('waiting', 0);
  const release = await connection.concurrency.acquire(options.signal, { onWait: waiting });
  let handedOn = false;
  try {
    options.onPhase?.('submitting', 0);
    let expectation = perJob && webhookRegistry.expect(api, perJob.hash);
    let job: JobInfo;
    try {
      job = await charged(connection, submission.estimate, () =>
        submission.send(client, perJob, {
          signal: options.signal,
          onWait: waiting,
          beforeSend: async () => {
            await recorder?.submitting(submission.draft, perJob?.hash);
          },
        }),
      );
    } catch (error) {
      if (expectation) webhookRegistry.settle(expectation);
      if (!options.signal?.aborted) await recorder?.ended();
      throw error;
    }
    if (expectation && job.id) webhookRegistry.identify(expectation, job.id);
    if (callback && 'keyed' in callback && job.id) expectation = webhookRegistry.expect(api, callback.keyed(job.id), job.id);
    if (options.completion === 'job') {
      handedOn = handOn(connection, job, release, options.owner);
      return job;
    }
    await recorder?.submitted(job, expectation?.secretHash);
    return await waitRecorded(connection, job, { ...options, expectation });
  } finally {
    if (!handedOn) release();
  }
}
