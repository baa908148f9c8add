import { randomUUID } from 'node:crypto';
import type { Node, NodeAPI } from 'node-red';
import type { z } from 'zod';
import type { JobInfo, ResolvedRequest } from '../../lib/contract';
import { InvalidRequestError, applyResult, resolveRequest } from '../../lib/contract';
import { journalFor, journalRecorder, orphanReport } from '../../lib/jobs/journal';
import type { JobJournal, JournalEntry } from '../../lib/jobs/journal';
import { isWebhookProvider, webhookRegistry } from '../../lib/jobs/webhooks';
import { waitInSlot } from '../../lib/jobs/complete';
import type { JobRecorder, RunOptions } from '../../lib/jobs/complete';
import type { submittingSettingsSchema } from '../../lib/jobs/settings';
import { submit } from '../../lib/jobs/submit';
import { adapterOf, isProviderApi } from '../../lib/providers';
import type { ProviderApi, ProviderConnection, Submission } from '../../lib/providers';
import { handleInputs } from './input';
import type { InputContext, Inputs, Message } from './input';
import { connectionFor } from './provider';
import { deployedWebhookPath } from './webhook-endpoints';

/** The runtime's pending-job journal, in the user directory; none where there is no user directory. */
export function journalOf(RED: NodeAPI): JobJournal | undefined {
  const userDir = RED.settings.userDir;
  return userDir ? journalFor(userDir, (message) => RED.log.warn(`[image-gen] ${message}`)) : undefined;
}

/**
 * Records a job this node will wait for, with the message that started it, from just before its
 * submit is sent until it ends. `key` continues an entry read back from the journal.
 */
export function recorderFor(RED: NodeAPI, node: Node, providerId: string, msg: Message, key: string = randomUUID()): JobRecorder | undefined {
  const journal = journalOf(RED);
  return journal && journalRecorder(journal, { key, nodeId: node.id, providerId, msg });
}

/**
 * Waits for a submitted job with the journal kept (recorded now, removed when the job ends), by
 * webhook when one is expected for it, shows progress in the node status, and puts the result on
 * the message. `resumed` is the journal entry of a job picked up after a redeploy or restart.
 */
export async function waitForJob(
  RED: NodeAPI,
  node: Node,
  providerId: string,
  job: JobInfo,
  msg: Message,
  { signal, status }: InputContext,
  settings: Pick<RunOptions, 'download' | 'poll'>,
  resumed?: JournalEntry,
): Promise<Message> {
  const recorder = recorderFor(RED, node, providerId, msg, resumed?.key);
  const hash = resumed?.webhookSecretHash;
  const expectation =
    hash && isWebhookProvider(job.provider)
      ? webhookRegistry.expect(job.provider, hash, job.id)
      : job.id
        ? webhookRegistry.forJob(job.provider, job.id)
        : undefined;
  // The secret's digest goes into the entry, so the job's webhook still completes it after a restart.
  if (!resumed) await recorder?.submitted(job, expectation?.secretHash);
  if (resumed && !job.id && !expectation) {
    await recorder?.ended();
    throw new InvalidRequestError(
      `Node-RED stopped while this ${job.provider} job was being submitted, before ${job.provider} answered. ` +
        `It may exist and be billed, but its id is unknown: look for it in ${job.provider}'s job list before submitting again`,
    );
  }
  const connection = connectionFor(RED, providerId);
  const result = await waitInSlot(connection, job, { ...settings, signal, completion: 'wait', onPhase: status.phase, recorder, expectation });
  status.finished(result);
  return applyResult(msg, result) as Message;
}

/**
 * Resumes the jobs this node was waiting for before a redeploy or restart: each completes (or
 * fails through Catch) with the message that started it, restored from the journal.
 */
export function resumeJournaledJobs(RED: NodeAPI, node: Node, inputs: Inputs, settings: () => Pick<RunOptions, 'poll'> & { download?: boolean }): void {
  const journal = journalOf(RED);
  if (!journal) return;
  journal.load().then(
    () => {
      for (const entry of journal.list().filter((candidate) => candidate.nodeId === node.id)) {
        inputs.background(journal.restore(entry) as Message, (msg, context) => {
          const current = settings();
          const download = current.download ?? (isProviderApi(entry.job.provider) && adapterOf(entry.job.provider).info.downloadByDefault === true);
          return waitForJob(RED, node, entry.providerId, entry.job, msg, context, { ...current, download }, entry);
        });
      }
    },
    (error: unknown) => node.warn(`the pending-job journal could not be read: ${error instanceof Error ? error.message : String(error)}`),
  );
}

export type SubmittingSettings = z.output<typeof submittingSettingsSchema>;

/** A node's request, checked by its provider's adapter and ready to send through `api`. */
export interface Prepared {
  api: ProviderApi;
  submission: Submission;
}

/** The one provider-specific part of a submitting node: which adapter checks the request, with which of its options. */
export type Prepare<S> = (connection: ProviderConnection, request: ResolvedRequest, msg: Message, settings: S, signal: AbortSignal) => Promise<Prepared>;

/**
 * The life of a node that submits paid jobs (flux-generate, piapi-task): each message is resolved,
 * checked by its adapter, journaled from just before its submit, and completed as the node's
 * `completion` says; jobs journaled before a redeploy or restart resume. `settings` reads the
 * node's settings (see settingsOf).
 */
export function handleSubmissions<S extends SubmittingSettings>(RED: NodeAPI, node: Node, providerId: string, settings: () => S, prepare: Prepare<S>): void {
  const inputs = handleInputs(RED, node, async (msg, { signal, status }) => {
    const current = settings();
    const connection = connectionFor(RED, providerId);
    const request = resolveRequest(msg, current);
    const recorder = recorderFor(RED, node, providerId, msg);
    const { api, submission } = await prepare(connection, request, msg, current, signal);
    const options: RunOptions = {
      signal,
      completion: current.completion || 'wait',
      // A node saved without the setting downloads where the provider's result URLs expire within minutes.
      download: current.download ?? adapterOf(api).info.downloadByDefault === true,
      onPhase: status.phase,
      recorder,
      webhookPath: deployedWebhookPath(),
      owner: node.id,
    };
    const result = await submit(connection, api, submission, options);
    status.finished(result);
    return applyResult(msg, result);
  });
  resumeJournaledJobs(RED, node, inputs, () => ({ download: settings().download }));
}

/** The latest RED API per runtime events emitter: one listener per runtime, using the newest API it was given. */
const runtimes = new WeakMap<object, NodeAPI>();

/**
 * After every deploy, reports (once each) journaled jobs whose node no longer exists: their results
 * were paid for, so the user is told how to collect them rather than left to guess.
 */
export function reportOrphanedJobs(api: NodeAPI): void {
  const listening = runtimes.has(api.events);
  runtimes.set(api.events, api);
  if (listening) return;
  api.events.on('flows:started', () => {
    const RED = runtimes.get(api.events) as NodeAPI;
    const journal = journalOf(RED);
    if (!journal) return;
    journal
      .load()
      .then(async () => {
        for (const entry of journal.list()) {
          if (entry.orphanReported || RED.nodes.getNode(entry.nodeId)) continue;
          RED.log.warn(`[image-gen] ${orphanReport(entry)}`);
          await journal.update(entry.key, { orphanReported: true });
        }
      })
      .catch((error: unknown) =>
        RED.log.warn(`[image-gen] jobs of removed nodes could not be reported: ${error instanceof Error ? error.message : String(error)}`),
      );
  });
}
