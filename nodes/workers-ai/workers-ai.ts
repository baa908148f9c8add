import type { Node, NodeAPI, NodeDef } from 'node-red';
import { applyResult, resolveRequest } from '../../lib/contract';
import { runWorkersAi, workersAiSettingsSchema } from '../../lib/jobs/run';
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
      const result = await runWorkersAi(connection, request, current.endpoint || 'worker', {
        signal,
        completion: 'wait',
        download: false,
        onPhase: status.phase,
      });
      status.finished(result);
      return applyResult(msg, result);
    });
  }
  RED.nodes.registerType('workers-ai', WorkersAi, { settings: editorSettingsFor('workers-ai', workersAiSettingsSchema) });
};
