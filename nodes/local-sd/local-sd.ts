import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { z } from 'zod';
import { InvalidRequestError, applyResult, resolveRequest } from '../../lib/contract';
import { submit } from '../../lib/jobs/submit';
import { loadModelAnswer, modelsAnswer, modelsDirectory, statusAnswer } from '../../lib/local/admin';
import { localGeneration } from '../../lib/local/generation';
import { locateModelFolder } from '../../lib/local/model-folder';
import { localSdParametersForEditor, settleGeneration } from '../../lib/local/params';
import { acquireRunner, localSdSettingsSchema, runnerOptionsFor } from '../../lib/local/runner';
import type { Submission } from '../../lib/providers';
import { visioncraftAdapter, visioncraftInfo } from '../../lib/providers/visioncraft';
import { adminRoute } from '../shared/admin';
import { checkSettings } from '../shared/check';
import type { Prepare } from '../shared/jobs';
import { handleInputs } from '../shared/input';
import { connectionFor } from '../shared/provider';
import { editorSettingsFor, settingsOf } from '../shared/settings';

type LocalSdSettings = z.output<typeof localSdSettingsSchema>;

/** With a VisionCraft Pro server's config, a message is checked and priced by its adapter, like a cloud node's. */
const prepareOnServer: Prepare<LocalSdSettings> = async (connection, request, _msg, _settings, signal) => ({
  api: 'visioncraft',
  submission: visioncraftAdapter.prepare(request, undefined, await connection.submitContext('visioncraft', signal)) as Submission,
});

export = function register(RED: NodeAPI): void {
  const modelsDir = (): string => modelsDirectory(RED.settings as { localSdModelsDir?: unknown; userDir?: string });

  function LocalSd(this: Node, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    const configured = settingsOf(this, localSdSettingsSchema, def);
    // With a VisionCraft Pro server's config, generations run there, and no local runner is started.
    const remote = configured.value?.provider || undefined;
    const acquired = configured.value && !remote ? acquireRunner(runnerOptionsFor(configured.value)) : undefined;
    const warned = new Set<string>();
    const warnOnce = (warning: string): void => {
      if (warned.has(warning)) return;
      warned.add(warning);
      this.warn(warning);
    };
    handleInputs(RED, this, async (msg, { signal, status }) => {
      const current = configured.read();
      const request = resolveRequest(msg, current);
      if (remote) {
        const connection = connectionFor(RED, remote);
        const { submission } = await prepareOnServer(connection, request, msg, current, signal);
        const generation = await submit(connection, 'visioncraft', submission, { signal, completion: 'wait', download: false, onPhase: status.phase });
        status.finished(generation);
        return applyResult(msg, generation);
      }
      const { runner } = acquired as NonNullable<typeof acquired>;
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
  RED.nodes.registerType('local-sd', LocalSd, {
    settings: { ...editorSettingsFor('local-sd', localSdSettingsSchema), localSdParameters: { value: localSdParametersForEditor, exportable: true } },
  });
  adminRoute(
    RED,
    'post',
    '/image-gen/local-sd/check',
    'local-sd.read',
    checkSettings(RED, localSdSettingsSchema, prepareOnServer, (request) => settleGeneration(request.prompt, request.params)),
  );

  // VisionCraft's GET /models, GET /status and POST /load_model, for the editor and for flows: this machine's,
  // or, with ?provider=<config id>, a VisionCraft Pro server's own answers (and its GET /gallery).
  const server = async (query: Record<string, unknown>) => connectionFor(RED, String(query.provider)).client('visioncraft');
  adminRoute(RED, 'get', '/image-gen/local-sd/models', 'local-sd.read', async ({ query }) =>
    query.provider ? visioncraftInfo(await server(query), 'models') : modelsAnswer(modelsDir()),
  );
  adminRoute(RED, 'get', '/image-gen/local-sd/status', 'local-sd.read', async ({ query }) =>
    query.provider ? visioncraftInfo(await server(query), 'status') : statusAnswer(modelsDir()),
  );
  adminRoute(RED, 'get', '/image-gen/local-sd/gallery', 'local-sd.read', async ({ query }) => {
    if (!query.provider) throw new InvalidRequestError("the gallery is a VisionCraft Pro server's: pass ?provider=<the id of its provider config>");
    const page = Object.fromEntries(['limit', 'offset', 'model'].filter((name) => typeof query[name] === 'string').map((name) => [name, String(query[name])]));
    return visioncraftInfo(await server(query), 'gallery', page);
  });
  adminRoute(RED, 'post', '/image-gen/local-sd/load_model', 'local-sd.write', (req) => loadModelAnswer(modelsDir(), req.body));
};
