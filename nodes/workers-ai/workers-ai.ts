import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { z } from 'zod';
import { applyResult, resolveRequest } from '../../lib/contract';
import { submit } from '../../lib/jobs/submit';
import { adapterOf } from '../../lib/providers';
import { workersAiSettingsSchema } from '../../lib/providers/cloudflare';
import { adminRoute } from '../shared/admin';
import { checkSettings } from '../shared/check';
import { handleInputs } from '../shared/input';
import type { Prepare } from '../shared/jobs';
import { connectionFor } from '../shared/provider';
import { editorSettingsFor, settingsOf } from '../shared/settings';

/** A worker or cloudflare config decides by its kind; the sandbox serves both, so the node's endpoint picks. */
const prepare: Prepare<z.output<typeof workersAiSettingsSchema>> = async (connection, request, _msg, settings, signal) => {
  const api = connection.apiFor(['workers-ai', 'cloudflare'], settings.endpoint === 'rest' ? 'cloudflare' : 'workers-ai');
  return { api, submission: await adapterOf(api).prepare(request, undefined as never, await connection.submitContext(api, signal)) };
};

export = function register(RED: NodeAPI): void {
  function WorkersAi(this: Node, def: NodeDef & { provider: string }): void {
    RED.nodes.createNode(this, def);
    const settings = settingsOf(this, workersAiSettingsSchema, def).read;
    handleInputs(RED, this, async (msg, { signal, status }) => {
      const current = settings();
      const connection = connectionFor(RED, def.provider);
      const { api, submission } = await prepare(connection, resolveRequest(msg, current), msg, current, signal);
      const result = await submit(connection, api, submission, { signal, completion: 'wait', download: false, onPhase: status.phase });
      status.finished(result);
      return applyResult(msg, result);
    });
  }
  RED.nodes.registerType('workers-ai', WorkersAi, { settings: editorSettingsFor('workers-ai', workersAiSettingsSchema) });
  adminRoute(RED, 'post', '/image-gen/workers-ai/check', 'workers-ai.read', checkSettings(RED, workersAiSettingsSchema, prepare));
};
