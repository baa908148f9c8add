import { z } from 'zod';
import type { DecodedError, HttpClient } from '../http';
import { decodeWith } from './errors';

/** `{error: {code, message, status}}`, and the plain `{error: "..."}` some routes answer with. */
const errorBodySchema = z.object({
  error: z.union([z.object({ code: z.string().optional(), message: z.string().optional() }), z.string()]),
});

export function decodePixeldojoError(_status: number, body: string): DecodedError | undefined {
  return decodeWith(errorBodySchema, body, ({ error }) => (typeof error === 'string' ? { message: error } : error));
}

const jobListSchema = z.object({ jobs: z.array(z.unknown()) });

/** `GET /jobs?limit=1` costs nothing and needs a valid key, unlike the public `GET /models`. */
export async function checkPixeldojoAccess(client: HttpClient, signal?: AbortSignal): Promise<string> {
  await client.json({ method: 'GET', path: 'jobs', query: { limit: 1 }, intent: 'read', signal }, jobListSchema);
  return 'PixelDojo accepted the API key';
}
