import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { z } from 'zod';
import { leonardoAdapter, leonardoGenerateSettingsSchema, leonardoPlatformModels } from '../../lib/providers/leonardo';
import { adminRoute } from '../shared/admin';
import { checkSettings } from '../shared/check';
import { handleSubmissions, reportOrphanedJobs } from '../shared/jobs';
import type { Prepare } from '../shared/jobs';
import { connectionFor } from '../shared/provider';
import { editorSettingsFor, settingsOf } from '../shared/settings';

const prepare: Prepare<z.output<typeof leonardoGenerateSettingsSchema>> = async (connection, request, _msg, _settings, signal) => {
  const context = await connection.submitContext('leonardo', signal);
  return { api: 'leonardo', submission: await leonardoAdapter.prepare(request, undefined, context) };
};

export = function register(RED: NodeAPI): void {
  reportOrphanedJobs(RED);
  function LeonardoGenerate(this: Node, def: NodeDef & { provider: string }): void {
    RED.nodes.createNode(this, def);
    handleSubmissions(RED, this, def.provider, settingsOf(this, leonardoGenerateSettingsSchema, def).read, prepare);
  }
  RED.nodes.registerType('leonardo-generate', LeonardoGenerate, { settings: editorSettingsFor('leonardo-generate', leonardoGenerateSettingsSchema) });

  // The editor's model picker: Leonardo's GET /platformModels through the chosen provider config.
  adminRoute(RED, 'get', '/image-gen/leonardo/models', 'leonardo-generate.read', async (req) => {
    const client = await connectionFor(RED, String(req.query.provider ?? '')).client('leonardo');
    return { models: await leonardoPlatformModels(client, AbortSignal.timeout(15_000)) };
  });
  adminRoute(RED, 'post', '/image-gen/leonardo-generate/check', 'leonardo-generate.read', checkSettings(RED, leonardoGenerateSettingsSchema, prepare));
};
