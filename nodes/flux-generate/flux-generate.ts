import type { Node, NodeAPI, NodeDef } from 'node-red';
import { applyResult, resolveRequest } from '../../lib/contract';
import { runPixeldojoFlux, runPixeldojoJob } from '../../lib/jobs/run';
import type { Completion } from '../../lib/jobs/run';
import { catalogueFor } from '../../lib/providers/pixeldojo';
import { handleInputs } from '../shared/input';
import { recorderFor, reportOrphanedJobs, resumeJournaledJobs } from '../shared/jobs';
import { connectionFor } from '../shared/provider';
import { deployedWebhookPath } from '../shared/webhook-endpoints';

interface FluxGenerateDef extends NodeDef {
  provider: string;
  /** `flux`: synchronous POST /flux; `jobs`: the async jobs API. */
  endpoint: 'flux' | 'jobs';
  model: string;
  prompt: string;
  params: unknown;
  completion: Completion;
  download: boolean;
}

export = function register(RED: NodeAPI): void {
  reportOrphanedJobs(RED);
  function FluxGenerate(this: Node, def: FluxGenerateDef): void {
    RED.nodes.createNode(this, def);
    const download = def.download === true;
    const inputs = handleInputs(RED, this, async (msg, { signal, status }) => {
      const connection = connectionFor(RED, def.provider);
      const request = resolveRequest(msg, def);
      const recorder = recorderFor(RED, this, def.provider, msg);
      const options = { signal, completion: def.completion || 'wait', download, onPhase: status.phase, recorder, webhookPath: deployedWebhookPath() };
      const result = def.endpoint === 'jobs' ? await runPixeldojoJob(connection, request, options) : await runPixeldojoFlux(connection, request, options);
      status.finished(result);
      return applyResult(msg, result);
    });
    resumeJournaledJobs(RED, this, inputs, () => ({ download }));
  }
  RED.nodes.registerType('flux-generate', FluxGenerate);

  // The editor's model list: PixelDojo's public catalogue with credit costs, cached per provider config.
  RED.httpAdmin.get('/image-gen/pixeldojo/models', RED.auth.needsPermission('flux-generate.read'), (req, res) => {
    Promise.resolve()
      .then(async () => catalogueFor(await connectionFor(RED, String(req.query.provider ?? '')).client('pixeldojo')).models(AbortSignal.timeout(15_000)))
      .then((models) => res.json({ models }))
      .catch((error: unknown) => res.status(400).json({ error: error instanceof Error ? error.message : String(error) }));
  });
};
