import type { NodeAPI } from 'node-red';
import { INVALID_REQUEST } from '../../lib/contract';
import { ProviderError } from '../../lib/http';
import { ProviderConfigError } from '../../lib/providers';
import { AdminAnswer, AdminError } from '../../lib/editor/admin';

export interface AdminRequest {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
}

/** What a failed admin call answers: `{error: {code, message}}`, with a status that says whose fault it was. */
function failure(error: unknown): AdminAnswer {
  const message = error instanceof Error ? error.message : String(error);
  const answer = (status: number, code: string): AdminAnswer => new AdminAnswer(status, { error: { code, message } });
  if (error instanceof AdminError) return answer(error.status, error.code);
  if ((error as { code?: unknown } | undefined)?.code === INVALID_REQUEST || error instanceof ProviderConfigError) return answer(400, 'VALIDATION_ERROR');
  if (error instanceof ProviderError) return answer(502, 'PROVIDER_ERROR');
  return answer(500, 'INTERNAL_ERROR');
}

/**
 * The one way the pack serves an admin endpoint: behind `permission` (Node-RED's adminAuth), as
 * JSON, with every failure in one shape. `handle` answers a body, or an AdminAnswer to pick the status.
 */
export function adminRoute(RED: NodeAPI, method: 'get' | 'post', path: string, permission: string, handle: (req: AdminRequest) => unknown): void {
  RED.httpAdmin[method](path, RED.auth.needsPermission(permission), (req, res) => {
    Promise.resolve()
      .then(() => handle({ params: req.params as Record<string, string>, query: req.query as Record<string, unknown>, body: req.body as unknown }))
      .catch(failure)
      .then((answer) => (answer instanceof AdminAnswer ? res.status(answer.status).json(answer.body) : res.json(answer)));
  });
}
