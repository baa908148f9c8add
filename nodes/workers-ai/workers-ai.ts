import type { Node, NodeAPI, NodeDef } from 'node-red';
import { applyResult, resolveRequest } from '../../lib/contract';
import { runWorkersAi } from '../../lib/jobs/run';
import type { WorkersAiEndpoint } from '../../lib/jobs/run';
import { handleInputs } from '../shared/input';
import { connectionFor } from '../shared/provider';

interface WorkersAiDef extends NodeDef {
  provider: string;
  /** Used with a sandbox config; a worker or cloudflare config decides by its kind. */
  endpoint: WorkersAiEndpoint;
  model: string;
  prompt: string;
  params: unknown;
}

export = function register(RED: NodeAPI): void {
  function WorkersAi(this: Node, def: WorkersAiDef): void {
    RED.nodes.createNode(this, def);
    handleInputs(RED, this, async (msg, { signal, status }) => {
      const connection = connectionFor(RED, def.provider);
      const request = resolveRequest(msg, def);
      const result = await runWorkersAi(connection, request, def.endpoint || 'worker', {
        signal,
        completion: 'wait',
        download: false,
        onPhase: status.phase,
      });
      status.finished(result);
      return applyResult(msg, result);
    });
  }
  RED.nodes.registerType('workers-ai', WorkersAi);
};
