import type { Node, NodeAPI, NodeDef } from 'node-red';
import { fluxGenerateSettingsSchema, runPixeldojoFlux, runPixeldojoJob } from '../../lib/jobs/run';
import { catalogueFor } from '../../lib/providers/pixeldojo';
import { handleSubmissions, reportOrphanedJobs } from '../shared/jobs';
import { connectionFor } from '../shared/provider';
import { editorSettingsFor, settingsOf } from '../shared/settings';

export = function register(RED: NodeAPI): void {
  reportOrphanedJobs(RED);
  function FluxGenerate(this: Node, def: NodeDef & { provider: string }): void {
    RED.nodes.createNode(this, def);
    handleSubmissions(RED, this, def.provider, settingsOf(this, fluxGenerateSettingsSchema, def).read, (connection, request, _msg, options, settings) =>
      settings.endpoint === 'jobs' ? runPixeldojoJob(connection, request, options) : runPixeldojoFlux(connection, request, options),
    );
  }
  RED.nodes.registerType('flux-generate', FluxGenerate, { settings: editorSettingsFor('flux-generate', fluxGenerateSettingsSchema) });

  // The editor's model list: PixelDojo's public catalogue with credit costs, cached per provider config.
  RED.httpAdmin.get('/image-gen/pixeldojo/models', RED.auth.needsPermission('flux-generate.read'), (req, res) => {
    Promise.resolve()
      .then(async () => catalogueFor(await connectionFor(RED, String(req.query.provider ?? '')).client('pixeldojo')).models(AbortSignal.timeout(15_000)))
      .then((models) => res.json({ models }))
      .catch((error: unknown) => res.status(400).json({ error: error instanceof Error ? error.message : String(error) }));
  });
};
