import type { NodeAPI } from 'node-red';
import type { z } from 'zod';
import { InvalidRequestError, describeIssues, resolveRequest } from '../../lib/contract';
import type { ResolvedRequest } from '../../lib/contract';
import { ProviderConfigError } from '../../lib/providers';
import type { CostEstimate } from '../../lib/providers';
import type { AdminRequest } from './admin';
import type { Prepare } from './jobs';
import { connectionFor } from './provider';

/** What the edit dialog is told about the settings it holds: the runtime's verdict, and the price the budget would reserve. */
export type CheckAnswer = { ok: true; estimate: CostEstimate | null } | { ok: false; message: string };

/** Stands in for a prompt the dialog leaves to `msg.prompt`, so the check is of the parameters. */
const SAMPLE_PROMPT = 'a prompt from the message';

/**
 * The body of a node's `POST /image-gen/<type>/check`: the dialog's settings and provider config,
 * checked by the same adapter the node submits through (its prepare step, which never sends a
 * paid request), so the dialog shows the runtime's own message and the estimate a budget would use.
 * `withoutProvider` checks a request that no provider config serves (local-sd on this machine): it
 * throws what the node would, and nothing is charged.
 */
export function checkSettings<S extends { prompt?: string }>(
  RED: NodeAPI,
  schema: z.ZodType<S>,
  prepare: Prepare<S>,
  withoutProvider?: (request: ResolvedRequest) => void,
) {
  return async ({ body }: AdminRequest): Promise<CheckAnswer> => {
    const { provider, settings } = (body ?? {}) as { provider?: string; settings?: unknown };
    const parsed = schema.safeParse(settings ?? {});
    if (!parsed.success) return { ok: false, message: describeIssues(parsed.error) };
    try {
      const request = resolveRequest({}, { ...parsed.data, prompt: parsed.data.prompt || SAMPLE_PROMPT });
      if (!provider && withoutProvider) {
        withoutProvider(request);
        return { ok: true, estimate: null };
      }
      const connection = connectionFor(RED, provider);
      const { submission } = await prepare(connection, request, {}, parsed.data, AbortSignal.timeout(15_000));
      return { ok: true, estimate: submission.estimate ?? null };
    } catch (error) {
      if (error instanceof InvalidRequestError || error instanceof ProviderConfigError) return { ok: false, message: error.message };
      throw error;
    }
  };
}
