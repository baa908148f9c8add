import type { Node, NodeAPI } from 'node-red';
import type { JobInfo } from '../../lib/contract';
import { applyResult } from '../../lib/contract';
import { journalFor, restoreMessage, serialisableMessage } from '../../lib/jobs/journal';
import type { JobJournal } from '../../lib/jobs/journal';
import { waitRecorded } from '../../lib/jobs/run';
import type { JobRecorder, RunOptions } from '../../lib/jobs/run';
import type { InputContext, Inputs, Message } from './input';
import { connectionFor } from './provider';

/** The runtime's pending-job journal, in the user directory; none where there is no user directory. */
function journalOf(RED: NodeAPI): JobJournal | undefined {
  const userDir = RED.settings.userDir;
  return userDir ? journalFor(userDir, (message) => RED.log.warn(`[image-gen] ${message}`)) : undefined;
}

/** Records a job this node will wait for, with the message that started it, until the job ends. */
export function recorderFor(RED: NodeAPI, node: Node, providerId: string, msg: Message): JobRecorder | undefined {
  const journal = journalOf(RED);
  if (!journal) return undefined;
  const saved = serialisableMessage(msg);
  return {
    submitted: (job: JobInfo) =>
      journal.add({ jobId: job.id as string, nodeId: node.id, providerId, job, msg: saved, submittedAt: job.submittedAt ?? new Date().toISOString() }),
    ended: (job: JobInfo) => journal.remove(job.id as string),
  };
}

/**
 * Waits for a submitted job with the journal kept (recorded now, removed when the job ends), shows
 * progress in the node status, and puts the result on the message.
 */
export async function waitForJob(
  RED: NodeAPI,
  node: Node,
  providerId: string,
  job: JobInfo,
  msg: Message,
  { signal, status }: InputContext,
  settings: Pick<RunOptions, 'download' | 'poll'>,
): Promise<Message> {
  const recorder = recorderFor(RED, node, providerId, msg);
  const result = await waitRecorded(connectionFor(RED, providerId), job, { ...settings, signal, completion: 'wait', onPhase: status.phase, recorder });
  status.finished(result);
  return applyResult(msg, result) as Message;
}

/**
 * Resumes the jobs this node was waiting for before a redeploy or restart: each completes (or
 * fails through Catch) with the message that started it, restored from the journal.
 */
export function resumeJournaledJobs(RED: NodeAPI, node: Node, inputs: Inputs, settings: () => Pick<RunOptions, 'download' | 'poll'>): void {
  const journal = journalOf(RED);
  if (!journal) return;
  journal.load().then(
    () => {
      for (const entry of journal.list().filter((candidate) => candidate.nodeId === node.id)) {
        inputs.background(restoreMessage(entry.msg) as Message, (msg, context) => waitForJob(RED, node, entry.providerId, entry.job, msg, context, settings()));
      }
    },
    (error: unknown) => node.warn(`the pending-job journal could not be read: ${error instanceof Error ? error.message : String(error)}`),
  );
}

const watched = new WeakSet<object>();

/**
 * After every deploy, reports (once each) journaled jobs whose node no longer exists: their results
 * were paid for, so the user is told how to collect them rather than left to guess.
 */
export function reportOrphanedJobs(RED: NodeAPI): void {
  if (watched.has(RED)) return;
  watched.add(RED);
  RED.events.on('flows:started', () => {
    const journal = journalOf(RED);
    if (!journal) return;
    void journal.load().then(async () => {
      for (const entry of journal.list()) {
        if (entry.orphanReported || RED.nodes.getNode(entry.nodeId)) continue;
        RED.log.warn(
          `[image-gen] the ${entry.job.provider} job ${entry.jobId} was submitted by node ${entry.nodeId}, which no longer exists, ` +
            `so its result was not collected. To collect it, send msg.job = {provider: "${entry.job.provider}", model: "${entry.job.model}", id: "${entry.jobId}", status: "pending", params: {}} to a job-poll node.`,
        );
        await journal.update(entry.jobId, { orphanReported: true });
      }
    });
  });
}
