import type { Node, NodeAPI, NodeDef } from 'node-red';
import { InvalidRequestError, applyResult, describeIssues, jobSchema } from '../../lib/contract';
import { completeJob } from '../../lib/jobs/run';
import { handleInputs } from '../shared/input';
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
  function JobPoll(this: Node, def: JobPollDef): void {
    RED.nodes.createNode(this, def);
    handleInputs(RED, this, async (msg, { signal, status }) => {
      const parsed = jobSchema.safeParse(msg.job);
      if (!parsed.success) throw new InvalidRequestError(`msg.job is not a submitted job: ${describeIssues(parsed.error, 'msg.job.')}`);
      const generation = await completeJob(connectionFor(RED, def.provider), parsed.data, {
        signal,
        completion: 'wait',
        download: def.download === true,
        poll: {
          initialDelayMs: milliseconds(def.initialDelay, 2_000, 'the first delay'),
          maxDelayMs: milliseconds(def.maxDelay, 30_000, 'the longest delay'),
          timeoutMs: milliseconds(def.timeout, 600_000, 'the timeout'),
        },
        onPhase: status.phase,
      });
      status.finished(generation);
      return applyResult(msg, generation);
    });
  }
  RED.nodes.registerType('job-poll', JobPoll);
};
