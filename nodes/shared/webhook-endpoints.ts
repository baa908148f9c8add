import type { NodeAPI } from 'node-red';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebhookRequest } from '../../lib/jobs/webhooks';

type Handler = (req: IncomingMessage & WebhookRequest & { query?: Record<string, unknown> }, res: ServerResponse) => void;

/** The job-webhook endpoints deployed now: node id → path. */
const deployed = new Map<string, string>();
/** Handlers by path, per httpNode app; each path's route is mounted once and dispatches here. */
const routes = new WeakMap<object, Map<string, Handler>>();

/**
 * Serves `path` on Node-RED's httpNode for a job-webhook node. The route is mounted once per path
 * and looks up its handler on each request, so a redeploy swaps handlers without touching
 * Express's router internals (which differ between Node-RED 4 and 5).
 */
export function openWebhookEndpoint(RED: NodeAPI, nodeId: string, path: string, handler: Handler): void {
  let handlers = routes.get(RED.httpNode);
  if (!handlers) {
    handlers = new Map();
    routes.set(RED.httpNode, handlers);
  }
  if (!handlers.has(path)) {
    const byPath = handlers;
    RED.httpNode.post(path, (req: Parameters<Handler>[0], res: ServerResponse, next: () => void) => {
      const current = byPath.get(path);
      if (current) current(req, res);
      else next();
    });
  }
  handlers.set(path, handler);
  deployed.set(nodeId, path);
}

export function closeWebhookEndpoint(RED: NodeAPI, nodeId: string): void {
  const path = deployed.get(nodeId);
  deployed.delete(nodeId);
  if (path && ![...deployed.values()].includes(path)) routes.get(RED.httpNode)?.delete(path);
}

/** The path providers are asked to call: the deployed job-webhook endpoint (the first by path when there are several). */
export function deployedWebhookPath(): string | undefined {
  return [...deployed.values()].sort()[0];
}
