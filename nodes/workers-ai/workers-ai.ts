import type { Node, NodeAPI, NodeDef } from 'node-red';
import { applyResult, resolveRequest } from '../../lib/contract';
import { submit } from '../../lib/jobs/submit';
import { adapterOf } from '../../lib/providers';
import { workersAiSettingsSchema } from '../../lib/providers/cloudflare';
import { handleInputs } from '../shared/input';
import { connectionFor } from '../shared/provider';
import { editorSettingsFor, settingsOf } from '../shared/settings';

export = function register(RED: NodeAPI): void {
  function WorkersAi(this: Node, def: NodeDef & { provider: string }): void {
    RED.nodes.createNode(this, def);
    const settings = settingsOf(this, workersAiSettingsSchema, def).read;
    handleInputs(RED, this, async (msg, { signal, status }) => {
      const current = settings();
      const connection = connectionFor(RED, def.provider);
      const request = resolveRequest(msg, current);
      // A worker or cloudflare config decides by its kind; the sandbox serves both, so the node's endpoint picks.
      const api = connection.apiFor(['workers-ai', 'cloudflare'], current.endpoint === 'rest' ? 'cloudflare' : 'workers-ai');
      const submission = await adapterOf(api).prepare(request, undefined as never, await connection.submitContext(api, signal));
      const result = await submit(connection, api, submission, { signal, completion: 'wait', download: false, onPhase: status.phase });
      status.finished(result);
      return applyResult(msg, result);
    });
  }
  RED.nodes.registerType('workers-ai', WorkersAi, { settings: editorSettingsFor('workers-ai', workersAiSettingsSchema) });
};
