import type { Node, NodeAPI, NodeDef } from 'node-red';
import { InvalidRequestError, describeIssues, jobSchema } from '../../lib/contract';
import { jobPollSettingsSchema } from '../../lib/jobs/poll';
import { handleInputs } from '../shared/input';
import { reportOrphanedJobs, resumeJournaledJobs, waitForJob } from '../shared/jobs';
import { editorSettingsFor, settingsOf } from '../shared/settings';

export = function register(RED: NodeAPI): void {
  reportOrphanedJobs(RED);
  function JobPoll(this: Node, def: NodeDef & { provider: string }): void {
    RED.nodes.createNode(this, def);
    // Resumed jobs and new messages alike fail through Catch (and stay journaled) until the settings are fixed.
    const settings = settingsOf(this, jobPollSettingsSchema, def).read;
    const inputs = handleInputs(RED, this, async (msg, context) => {
      const parsed = jobSchema.safeParse(msg.job);
      if (!parsed.success) throw new InvalidRequestError(`msg.job is not a submitted job: ${describeIssues(parsed.error, 'msg.job.')}`);
      return waitForJob(RED, this, def.provider, parsed.data, msg, context, settings());
    });
    resumeJournaledJobs(RED, this, inputs, settings);
  }
  RED.nodes.registerType('job-poll', JobPoll, { settings: editorSettingsFor('job-poll', jobPollSettingsSchema) });
};
