import type { Node, NodeAPI, NodeDef } from 'node-red';
import { InvalidRequestError, describeIssues, jobSchema } from '../../lib/contract';
import { handleInputs } from '../shared/input';
import { reportOrphanedJobs, resumeJournaledJobs, waitForJob } from '../shared/jobs';

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
    const settings = () => ({
      download: def.download === true,
      poll: {
        initialDelayMs: milliseconds(def.initialDelay, 2_000, 'the first delay'),
        maxDelayMs: milliseconds(def.maxDelay, 30_000, 'the longest delay'),
        timeoutMs: milliseconds(def.timeout, 600_000, 'the timeout'),
      },
    });
    const inputs = handleInputs(RED, this, async (msg, context) => {
      const parsed = jobSchema.safeParse(msg.job);
      if (!parsed.success) throw new InvalidRequestError(`msg.job is not a submitted job: ${describeIssues(parsed.error, 'msg.job.')}`);
      return waitForJob(RED, this, def.provider, parsed.data, msg, context, settings());
    });
    resumeJournaledJobs(RED, this, inputs, settings);
  }
  RED.nodes.registerType('job-poll', JobPoll);
};
