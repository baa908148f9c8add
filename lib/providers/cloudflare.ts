import { z } from 'zod';
import { ProviderError } from '../http';
import type { DecodedError, HttpClient } from '../http';
import { decodeWith } from './errors';

/** Cloudflare's v4 envelope: `{success, errors: [{code, message}], messages, result}`. */
const envelopeSchema = z.object({
  success: z.boolean(),
  errors: z.array(z.object({ code: z.number(), message: z.string() })).default([]),
});

/** Cloudflare error codes worth explaining. */
const CLOUDFLARE_ADVICE: Record<number, string> = {
  3036: 'the daily free allocation of Workers AI neurons is used up',
  7003: 'the account id is wrong',
  10000: 'the API token was refused or lacks the Workers AI permission',
};

export function decodeCloudflareError(_status: number, body: string): DecodedError | undefined {
  return decodeWith(envelopeSchema, body, ({ errors }) => {
    const first = errors[0];
    if (!first) return undefined;
    const advice = CLOUDFLARE_ADVICE[first.code];
    return { code: String(first.code), message: advice ? `${first.message} - ${advice}` : first.message };
  });
}

/** The documented worker's error body: `{error: "..."}`. */
const workerErrorSchema = z.object({ error: z.string() });

export function decodeWorkerError(_status: number, body: string): DecodedError | undefined {
  return decodeWith(workerErrorSchema, body, ({ error }) => ({ message: error }));
}

const resultSchema = z.object({ success: z.literal(true) });

/** Verifies the token, then that it reaches the account's Workers AI (a wrong id answers 7003). */
export async function checkCloudflareAccess(client: HttpClient, accountId: string, signal?: AbortSignal): Promise<string> {
  await client.json({ method: 'GET', path: 'user/tokens/verify', intent: 'read', signal }, resultSchema);
  await client.json(
    { method: 'GET', path: `accounts/${encodeURIComponent(accountId)}/ai/models/search`, query: { per_page: 1 }, intent: 'read', signal },
    resultSchema,
  );
  return 'Cloudflare accepted the token and the account id';
}

/**
 * The worker documents no key and only `POST /` (which generates, and costs money), so the check
 * is a free GET that proves the URL answers at all.
 */
export async function checkWorkerReachable(client: HttpClient, signal?: AbortSignal): Promise<string> {
  try {
    await client.send({ method: 'GET', path: '', intent: 'read', signal });
  } catch (error) {
    if (!(error instanceof ProviderError && error.kind === 'http')) throw error;
  }
  return 'the worker answers (it documents no key, so none was checked)';
}
