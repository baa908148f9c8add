import { z } from 'zod';
import { ProviderError } from '../http';
import type { DecodedError, HttpClient } from '../http';
import { decodeWith } from './errors';

/** Every PiAPI answer: `{code, message, data}`, with `data.error` describing a failure. */
const envelopeSchema = z.object({
  code: z.number(),
  message: z.string().optional(),
  data: z
    .object({ error: z.object({ code: z.number().optional(), message: z.string().optional(), detail: z.string().optional() }).nullish() })
    .passthrough()
    .nullish(),
});

/** PiAPI's documented error codes, as advice a person can act on. */
export const PIAPI_ERROR_ADVICE: Record<number, string> = {
  1100: 'the prompt must be 1-1500 characters',
  1200: 'authentication failed: check the API key in the provider config',
  1300: 'insufficient credits: top up the PiAPI account',
  1400: 'rate limit exceeded: wait or upgrade the plan',
  1500: 'service temporarily unavailable: retry later',
  1600: 'an input image URL is not accessible or not a valid image',
  1700: 'invalid dimensions: width x height must not exceed 1048576',
  1800: 'the LoRA or ControlNet could not be loaded: check its URL and compatibility',
};

export function decodePiapiError(_status: number, body: string): DecodedError | undefined {
  return decodeWith(envelopeSchema, body, (envelope) => {
    const error = envelope.data?.error;
    const code = error?.code;
    const said = [error?.message, error?.detail && error.detail !== error.message ? error.detail : undefined].filter(Boolean).join(': ');
    const advice = code !== undefined ? PIAPI_ERROR_ADVICE[code] : undefined;
    const message = [said || envelope.message, advice].filter(Boolean).join(' - ');
    return { code: code !== undefined ? String(code) : undefined, message: message || undefined };
  });
}

/**
 * PiAPI documents no account endpoint, so access is checked by reading a task that does not
 * exist: a refused key answers 401/1200, an accepted one "task not found".
 */
export async function checkPiapiAccess(client: HttpClient, signal?: AbortSignal): Promise<string> {
  try {
    await client.send({ method: 'GET', path: 'task/image-gen-connection-check', intent: 'read', signal });
  } catch (error) {
    if (error instanceof ProviderError && error.kind === 'http' && error.status === 404) return 'PiAPI accepted the API key';
    throw error;
  }
  return 'PiAPI accepted the API key';
}
