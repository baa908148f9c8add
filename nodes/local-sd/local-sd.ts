import type { Node, NodeAPI, NodeDef } from 'node-red';
import { applyResult, resolveRequest } from '../../lib/contract';
import { loadModelAnswer, modelsAnswer, modelsDirectory, statusAnswer } from '../../lib/local/admin';
import type { AdminAnswer } from '../../lib/local/admin';
import { localGeneration } from '../../lib/local/generation';
import { locateModelFolder } from '../../lib/local/model-folder';
import { settleGeneration } from '../../lib/local/params';
import { LOCAL_SD_LIMITS, acquireRunner, runnerOptionsFor } from '../../lib/local/runner';
import { handleInputs } from '../shared/input';

interface LocalSdDef extends NodeDef {
  model: string;
  device: 'cpu' | 'cuda';
  /** onnxruntime threads; 0 or empty lets it choose. */
  threads: number | string;
  prompt: string;
  params: unknown;
}

export = function register(RED: NodeAPI): void {
  const modelsDir = (): string => modelsDirectory(RED.settings as { localSdModelsDir?: unknown; userDir?: string });

  function LocalSd(this: Node, def: LocalSdDef): void {
    RED.nodes.createNode(this, def);
    // A setting the runtime refuses leaves the node deployed, saying why on every message.
    let acquired: ReturnType<typeof acquireRunner> | undefined;
    let problem: Error | undefined;
    try {
      acquired = acquireRunner(runnerOptionsFor(def));
    } catch (error) {
      problem = error as Error;
      this.error(problem.message);
    }
    const warned = new Set<string>();
    const warnOnce = (warning: string): void => {
      if (warned.has(warning)) return;
      warned.add(warning);
      this.warn(warning);
    };
    handleInputs(RED, this, async (msg, { signal, status }) => {
      if (!acquired) throw problem;
      const { runner } = acquired;
      const request = resolveRequest(msg, def);
      const settings = settleGeneration(request.prompt, request.params);
      const modelDir = await locateModelFolder(request.model, modelsDir());
      const submittedAt = new Date();
      const result = await runner.generate(modelDir, settings, { signal, onLoading: status.loading, onStep: status.step });
      result.warnings.forEach(warnOnce);
      if (result.truncatedTokens > 0) warnOnce(`the prompt is longer than CLIP's 75 tokens: its last ${result.truncatedTokens} token(s) were ignored`);
      const generation = localGeneration(request.model, settings, result, submittedAt);
      status.finished(generation);
      return applyResult(msg, generation);
    });
    this.on('close', () => acquired?.release());
  }
  RED.nodes.registerType('local-sd', LocalSd, { settings: { localSdLimits: { value: LOCAL_SD_LIMITS, exportable: true } } });

  const answer = (work: () => Promise<AdminAnswer>, res: { status(code: number): { json(body: unknown): void } }): void => {
    work().then(
      ({ status, body }) => res.status(status).json(body),
      (error: unknown) => res.status(500).json({ error: { code: 'INTERNAL_ERROR', message: error instanceof Error ? error.message : String(error) } }),
    );
  };
  // VisionCraft's GET /models, GET /status and POST /load_model, for the editor and for flows.
  RED.httpAdmin.get('/image-gen/local-sd/models', RED.auth.needsPermission('local-sd.read'), (_req, res) => answer(() => modelsAnswer(modelsDir()), res));
  RED.httpAdmin.get('/image-gen/local-sd/status', RED.auth.needsPermission('local-sd.read'), (_req, res) => answer(() => statusAnswer(modelsDir()), res));
  RED.httpAdmin.post('/image-gen/local-sd/load_model', RED.auth.needsPermission('local-sd.write'), (req, res) => answer(() => loadModelAnswer(modelsDir(), req.body), res));
};
