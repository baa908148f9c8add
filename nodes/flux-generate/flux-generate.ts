import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { z } from 'zod';
import type { Submission } from '../../lib/providers';
import { bflAdapter } from '../../lib/providers/bfl';
import { catalogueFor, catalogueParameters, fluxGenerateSettingsSchema, pixeldojoAdapter } from '../../lib/providers/pixeldojo';
import { adminRoute } from '../shared/admin';
import { checkSettings } from '../shared/check';
import { handleSubmissions, reportOrphanedJobs } from '../shared/jobs';
import type { Prepare } from '../shared/jobs';
import { connectionFor } from '../shared/provider';
import { editorSettingsFor, settingsOf } from '../shared/settings';

/** A pixeldojo or bfl config decides by its kind; the sandbox serves both, so the endpoint setting picks. */
const prepare: Prepare<z.output<typeof fluxGenerateSettingsSchema>> = async (connection, request, _msg, settings, signal) => {
  const api = connection.apiFor(['pixeldojo', 'bfl'], settings.endpoint === 'bfl' ? 'bfl' : 'pixeldojo');
  const context = await connection.submitContext(api, signal);
  if (api === 'bfl') return { api, submission: bflAdapter.prepare(request, undefined, context) as Submission };
  return { api, submission: await pixeldojoAdapter.prepare(request, { endpoint: settings.endpoint === 'jobs' ? 'jobs' : 'flux' }, context) };
};

export = function register(RED: NodeAPI): void {
  reportOrphanedJobs(RED);
  function FluxGenerate(this: Node, def: NodeDef & { provider: string }): void {
    RED.nodes.createNode(this, def);
    handleSubmissions(RED, this, def.provider, settingsOf(this, fluxGenerateSettingsSchema, def).read, prepare);
  }
  RED.nodes.registerType('flux-generate', FluxGenerate, { settings: editorSettingsFor('flux-generate', fluxGenerateSettingsSchema) });

  // The editor's model list: PixelDojo's public catalogue with credit costs, cached per provider config.
  adminRoute(RED, 'get', '/image-gen/pixeldojo/models', 'flux-generate.read', async (req) => {
    const client = await connectionFor(RED, String(req.query.provider ?? '')).client('pixeldojo');
    return { models: await catalogueFor(client).models(AbortSignal.timeout(15_000)) };
  });
  // A catalogue model's parameters, for the dialog's form: the schema a submit is checked with.
  adminRoute(RED, 'get', '/image-gen/pixeldojo/parameters', 'flux-generate.read', async (req) => {
    const client = await connectionFor(RED, String(req.query.provider ?? '')).client('pixeldojo');
    return { parameters: (await catalogueParameters(catalogueFor(client), String(req.query.model ?? ''), AbortSignal.timeout(15_000))) ?? null };
  });
  // The dialog's check: the runtime's verdict on its settings and what a message would cost.
  adminRoute(RED, 'post', '/image-gen/flux-generate/check', 'flux-generate.read', checkSettings(RED, fluxGenerateSettingsSchema, prepare));
};
