import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { Submission } from '../../lib/providers';
import { bflAdapter } from '../../lib/providers/bfl';
import { catalogueFor, fluxGenerateSettingsSchema, pixeldojoAdapter } from '../../lib/providers/pixeldojo';
import { adminRoute } from '../shared/admin';
import { handleSubmissions, reportOrphanedJobs } from '../shared/jobs';
import { connectionFor } from '../shared/provider';
import { editorSettingsFor, settingsOf } from '../shared/settings';

export = function register(RED: NodeAPI): void {
  reportOrphanedJobs(RED);
  function FluxGenerate(this: Node, def: NodeDef & { provider: string }): void {
    RED.nodes.createNode(this, def);
    handleSubmissions(RED, this, def.provider, settingsOf(this, fluxGenerateSettingsSchema, def).read, async (connection, request, _msg, settings, signal) => {
      // A pixeldojo or bfl config decides by its kind; the sandbox serves both, so the endpoint setting picks.
      const api = connection.apiFor(['pixeldojo', 'bfl'], settings.endpoint === 'bfl' ? 'bfl' : 'pixeldojo');
      const context = await connection.submitContext(api, signal);
      if (api === 'bfl') return { api, submission: bflAdapter.prepare(request, undefined, context) as Submission };
      const endpoint = settings.endpoint === 'jobs' ? 'jobs' : 'flux';
      return { api, submission: await pixeldojoAdapter.prepare(request, { endpoint }, context) };
    });
  }
  RED.nodes.registerType('flux-generate', FluxGenerate, { settings: editorSettingsFor('flux-generate', fluxGenerateSettingsSchema) });

  // The editor's model list: PixelDojo's public catalogue with credit costs, cached per provider config.
  adminRoute(RED, 'get', '/image-gen/pixeldojo/models', 'flux-generate.read', async (req) => {
    const client = await connectionFor(RED, String(req.query.provider ?? '')).client('pixeldojo');
    return { models: await catalogueFor(client).models(AbortSignal.timeout(15_000)) };
  });
};
