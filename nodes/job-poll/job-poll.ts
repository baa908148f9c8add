import type { Node, NodeAPI, NodeDef } from 'node-red';
import { InvalidRequestError, describeIssues, jobSchema } from '../../lib/contract';
import { POLL_SETTING_LIMITS, pollSettingsSchema } from '../../lib/jobs/poll';
import { handleInputs } from '../shared/input';
import { reportOrphanedJobs, resumeJournaledJobs, waitForJob } from '../shared/jobs';

interface JobPollDef extends NodeDef {
  provider: string;
  initialDelay: string | number;
  maxDelay: string | number;
  timeout: string | number;
  download: boolean;
}

export = function register(RED: NodeAPI): void {
  reportOrphanedJobs(RED);
  function JobPoll(this: Node, def: JobPollDef): void {
    RED.nodes.createNode(this, def);
    const poll = pollSettingsSchema.safeParse({ initialDelay: def.initialDelay, maxDelay: def.maxDelay, timeout: def.timeout });
    if (!poll.success) this.error(`job-poll's settings cannot be used: ${describeIssues(poll.error)}`);
    // Resumed jobs and new messages alike fail through Catch (and stay journaled) until the settings are fixed.
    const settings = () => {
      if (!poll.success) throw new InvalidRequestError(`job-poll's settings cannot be used: ${describeIssues(poll.error)}`);
      return { download: def.download === true, poll: poll.data };
    };
    const inputs = handleInputs(RED, this, async (msg, context) => {
      const parsed = jobSchema.safeParse(msg.job);
      if (!parsed.success) throw new InvalidRequestError(`msg.job is not a submitted job: ${describeIssues(parsed.error, 'msg.job.')}`);
      return waitForJob(RED, this, def.provider, parsed.data, msg, context, settings());
    });
    resumeJournaledJobs(RED, this, inputs, settings);
  }
  RED.nodes.registerType('job-poll', JobPoll, { settings: { jobPollLimits: { value: POLL_SETTING_LIMITS, exportable: true } } });
};
