import type { Node, NodeAPI, NodeDef } from 'node-red';
import { applyResult, resolveRequest } from '../../lib/contract';
import { loadModelAnswer, modelsAnswer, modelsDirectory, statusAnswer } from '../../lib/local/admin';
import { localGeneration } from '../../lib/local/generation';
import { locateModelFolder } from '../../lib/local/model-folder';
import { settleGeneration } from '../../lib/local/params';
import { acquireRunner, localSdSettingsSchema, runnerOptionsFor } from '../../lib/local/runner';
import { adminRoute } from '../shared/admin';
import { handleInputs } from '../shared/input';
import { editorSettingsFor, settingsOf } from '../shared/settings';

export = function register(RED: NodeAPI): void {
  const modelsDir = (): string => modelsDirectory(RED.settings as { localSdModelsDir?: unknown; userDir?: string });

  function LocalSd(this: Node, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    const configured = settingsOf(this, localSdSettingsSchema, def);
    const acquired = configured.value && acquireRunner(runnerOptionsFor(configured.value));
    const warned = new Set<string>();
    const warnOnce = (warning: string): void => {
      if (warned.has(warning)) return;
      warned.add(warning);
      this.warn(warning);
    };
    handleInputs(RED, this, async (msg, { signal, status }) => {
      const current = configured.read();
      const { runner } = acquired as NonNullable<typeof acquired>;
      const request = resolveRequest(msg, current);
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
  RED.nodes.registerType('local-sd', LocalSd, { settings: editorSettingsFor('local-sd', localSdSettingsSchema) });

  // VisionCraft's GET /models, GET /status and POST /load_model, for the editor and for flows.
  adminRoute(RED, 'get', '/image-gen/local-sd/models', 'local-sd.read', () => modelsAnswer(modelsDir()));
  adminRoute(RED, 'get', '/image-gen/local-sd/status', 'local-sd.read', () => statusAnswer(modelsDir()));
  adminRoute(RED, 'post', '/image-gen/local-sd/load_model', 'local-sd.write', (req) => loadModelAnswer(modelsDir(), req.body));
};
