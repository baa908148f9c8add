import type { Node, NodeAPI, NodeDef } from 'node-red';
import { piapiAdapter, piapiTaskSettingsSchema } from '../../lib/providers/piapi';
import { handleSubmissions, reportOrphanedJobs } from '../shared/jobs';
import { editorSettingsFor, settingsOf } from '../shared/settings';

export = function register(RED: NodeAPI): void {
  reportOrphanedJobs(RED);
  function PiapiTask(this: Node, def: NodeDef & { provider: string }): void {
    RED.nodes.createNode(this, def);
    handleSubmissions(RED, this, def.provider, settingsOf(this, piapiTaskSettingsSchema, def).read, async (connection, request, msg, settings, signal) => {
      const taskType = msg.taskType === undefined ? settings.taskType || 'txt2img' : String(msg.taskType);
      const context = await connection.submitContext('piapi', signal);
      return { api: 'piapi', submission: await piapiAdapter.prepare(request, { taskType, serviceMode: settings.serviceMode || undefined }, context) };
    });
  }
  RED.nodes.registerType('piapi-task', PiapiTask, { settings: editorSettingsFor('piapi-task', piapiTaskSettingsSchema) });
};
