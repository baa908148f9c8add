import type { Node, NodeAPI } from 'node-red';
import type { Generation, JobInfo } from '../../lib/contract';
import { applyResult } from '../../lib/contract';
import { journalFor, restoreMessage, serialisableMessage } from '../../lib/jobs/journal';
import type { JobJournal, JournalEntry } from '../../lib/jobs/journal';
import type { JobRecorder } from '../../lib/jobs/run';
import type { InputContext, Inputs, Message } from './input';

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
 * Resumes the jobs this node was waiting for before a redeploy or restart: each completes (or
 * fails through Catch) with the message that started it, restored from the journal.
 */
export function resumeJournaledJobs(
  RED: NodeAPI,
  node: Node,
  inputs: Inputs,
  wait: (entry: JournalEntry, msg: Message, context: InputContext) => Promise<Generation>,
): void {
  const journal = journalOf(RED);
  if (!journal) return;
  journal.load().then(
    () => {
      for (const entry of journal.list().filter((candidate) => candidate.nodeId === node.id)) {
        inputs.background(restoreMessage(entry.msg) as Message, async (msg, context) => applyResult(msg, await wait(entry, msg, context)) as Message);
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
