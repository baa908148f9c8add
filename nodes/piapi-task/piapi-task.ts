import type { Node, NodeAPI, NodeDef } from 'node-red';
import { piapiTaskSettingsSchema, runPiapiTask } from '../../lib/jobs/run';
import { handleSubmissions, reportOrphanedJobs } from '../shared/jobs';
import { editorSettingsFor, settingsOf } from '../shared/settings';

export = function register(RED: NodeAPI): void {
  reportOrphanedJobs(RED);
  function PiapiTask(this: Node, def: NodeDef & { provider: string }): void {
    RED.nodes.createNode(this, def);
    handleSubmissions(RED, this, def.provider, settingsOf(this, piapiTaskSettingsSchema, def).read, (connection, request, msg, options, settings) => {
      const taskType = msg.taskType === undefined ? settings.taskType || 'txt2img' : String(msg.taskType);
      return runPiapiTask(connection, request, { taskType, serviceMode: settings.serviceMode || undefined }, options);
    });
  }
  RED.nodes.registerType('piapi-task', PiapiTask, { settings: editorSettingsFor('piapi-task', piapiTaskSettingsSchema) });
};
