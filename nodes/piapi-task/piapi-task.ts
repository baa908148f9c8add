import type { Node, NodeAPI } from 'node-red';
import { runPiapiTask } from '../../lib/jobs/run';
import { handleSubmissions, reportOrphanedJobs } from '../shared/jobs';
import type { SubmittingNodeDef } from '../shared/jobs';

interface PiapiTaskDef extends SubmittingNodeDef {
  taskType: string;
  serviceMode: string;
}

export = function register(RED: NodeAPI): void {
  reportOrphanedJobs(RED);
  function PiapiTask(this: Node, def: PiapiTaskDef): void {
    RED.nodes.createNode(this, def);
    handleSubmissions(RED, this, def, (connection, request, msg, options) => {
      const taskType = msg.taskType === undefined ? def.taskType || 'txt2img' : String(msg.taskType);
      return runPiapiTask(connection, request, { taskType, serviceMode: def.serviceMode || undefined }, options);
    });
  }
  RED.nodes.registerType('piapi-task', PiapiTask);
};
