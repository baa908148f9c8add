import type { Node, NodeAPI, NodeDef } from 'node-red';
import { InvalidRequestError, applyResult, describeIssues, jobSchema } from '../../lib/contract';
import type { JobInfo } from '../../lib/contract';
import { waitRecorded } from '../../lib/jobs/run';
import { handleInputs } from '../shared/input';
import type { InputContext, Message } from '../shared/input';
import { recorderFor, reportOrphanedJobs, resumeJournaledJobs } from '../shared/jobs';
import { connectionFor } from '../shared/provider';

interface JobPollDef extends NodeDef {
  provider: string;
  initialDelay: string | number;
  maxDelay: string | number;
  timeout: string | number;
  download: boolean;
}

/** A positive number of milliseconds from the editor, or the default when the field is empty. */
function milliseconds(value: string | number | undefined, fallback: number, name: string): number {
  if (value === undefined || value === '') return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 1 || number > 86_400_000) throw new InvalidRequestError(`${name} must be 1 to 86400000 ms`);
  return number;
}

export = function register(RED: NodeAPI): void {
  reportOrphanedJobs(RED);
  function JobPoll(this: Node, def: JobPollDef): void {
    RED.nodes.createNode(this, def);
    const wait = async (providerId: string, job: JobInfo, msg: Message, { signal, status }: InputContext) => {
      const generation = await waitRecorded(connectionFor(RED, providerId), job, {
        signal,
        completion: 'wait',
        download: def.download === true,
        poll: {
          initialDelayMs: milliseconds(def.initialDelay, 2_000, 'the first delay'),
          maxDelayMs: milliseconds(def.maxDelay, 30_000, 'the longest delay'),
          timeoutMs: milliseconds(def.timeout, 600_000, 'the timeout'),
        },
        onPhase: status.phase,
        recorder: recorderFor(RED, this, providerId, msg),
      });
      status.finished(generation);
      return generation;
    };
    const inputs = handleInputs(RED, this, async (msg, context) => {
      const parsed = jobSchema.safeParse(msg.job);
      if (!parsed.success) throw new InvalidRequestError(`msg.job is not a submitted job: ${describeIssues(parsed.error, 'msg.job.')}`);
      return applyResult(msg, await wait(def.provider, parsed.data, msg, context));
    });
    resumeJournaledJobs(RED, this, inputs, (entry, msg, context) => wait(entry.providerId, entry.job, msg, context));
  }
  RED.nodes.registerType('job-poll', JobPoll);
};
