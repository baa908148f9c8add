import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { z } from 'zod';
import { piapiAdapter, piapiTaskSettingsSchema } from '../../lib/providers/piapi';
import { adminRoute } from '../shared/admin';
import { checkSettings } from '../shared/check';
import { handleSubmissions, reportOrphanedJobs } from '../shared/jobs';
import type { Prepare } from '../shared/jobs';
import { editorSettingsFor, settingsOf } from '../shared/settings';

/** `msg.taskType` overrides the node's task type. */
const prepare: Prepare<z.output<typeof piapiTaskSettingsSchema>> = async (connection, request, msg, settings, signal) => {
  const taskType = msg.taskType === undefined ? settings.taskType || 'txt2img' : String(msg.taskType);
  const context = await connection.submitContext('piapi', signal);
  return { api: 'piapi', submission: await piapiAdapter.prepare(request, { taskType, serviceMode: settings.serviceMode || undefined }, context) };
};

export = function register(RED: NodeAPI): void {
  reportOrphanedJobs(RED);
  function PiapiTask(this: Node, def: NodeDef & { provider: string }): void {
    RED.nodes.createNode(this, def);
    handleSubmissions(RED, this, def.provider, settingsOf(this, piapiTaskSettingsSchema, def).read, prepare);
  }
  RED.nodes.registerType('piapi-task', PiapiTask, { settings: editorSettingsFor('piapi-task', piapiTaskSettingsSchema) });
  adminRoute(RED, 'post', '/image-gen/piapi-task/check', 'piapi-task.read', checkSettings(RED, piapiTaskSettingsSchema, prepare));
};
