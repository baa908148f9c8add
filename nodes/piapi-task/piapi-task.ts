import type { Node, NodeAPI, NodeDef } from 'node-red';
import { applyResult, resolveRequest } from '../../lib/contract';
import { runPiapiTask } from '../../lib/jobs/run';
import type { Completion } from '../../lib/jobs/run';
import { handleInputs } from '../shared/input';
import { recorderFor, reportOrphanedJobs, resumeJournaledJobs } from '../shared/jobs';
import { connectionFor } from '../shared/provider';
import { deployedWebhookPath } from '../shared/webhook-endpoints';

interface PiapiTaskDef extends NodeDef {
  provider: string;
  model: string;
  taskType: string;
  prompt: string;
  params: unknown;
  completion: Completion;
  serviceMode: string;
  download: boolean;
}

export = function register(RED: NodeAPI): void {
  reportOrphanedJobs(RED);
  function PiapiTask(this: Node, def: PiapiTaskDef): void {
    RED.nodes.createNode(this, def);
    const download = def.download === true;
    const inputs = handleInputs(RED, this, async (msg, { signal, status }) => {
      const connection = connectionFor(RED, def.provider);
      const request = resolveRequest(msg, def);
      const taskType = msg.taskType === undefined ? def.taskType || 'txt2img' : String(msg.taskType);
      const recorder = recorderFor(RED, this, def.provider, msg);
      const result = await runPiapiTask(
        connection,
        request,
        { taskType, serviceMode: def.serviceMode || undefined },
        { signal, completion: def.completion || 'wait', download, onPhase: status.phase, recorder, webhookPath: deployedWebhookPath() },
      );
      status.finished(result);
      return applyResult(msg, result);
    });
    resumeJournaledJobs(RED, this, inputs, () => ({ download }));
  }
  RED.nodes.registerType('piapi-task', PiapiTask);
};
