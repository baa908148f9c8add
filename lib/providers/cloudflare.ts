import { z } from 'zod';
import { InvalidRequestError, configuredRequestSchema, describeIssues } from '../contract';
import type { Generation, ResolvedRequest } from '../contract';
import { ProviderError } from '../http';
import type { DecodedError, HttpClient, HttpResponse } from '../http';
import { detectImageType, imageSize } from '../storage/image-type';
import { bearerAuth } from './adapter';
import type { ProviderAdapter, Submission } from './adapter';
import type { CostEstimate } from './budget';
import { decodeWith } from './errors';

/** Cloudflare's v4 envelope: `{success, errors: [{code, message}], messages, result}`. */
const envelopeSchema = z.object({
  success: z.boolean(),
  errors: z.array(z.object({ code: z.number(), message: z.string() })).default([]),
});

/** A 429 that lasts until tomorrow: retrying it only wastes requests. */
const DAILY_ALLOCATION_USED = 3036;

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
    const message = advice ? `${first.message} - ${advice}` : first.message;
    return first.code === DAILY_ALLOCATION_USED ? { code: String(first.code), message, retryable: false } : { code: String(first.code), message };
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

// ---- Generation -------------------------------------------------------------------------------

const prompt = z.string().min(1, 'the prompt is empty').max(2048, 'the prompt is longer than 2048 characters');
const steps = z.number().int().min(1).max(8);

/** The documented worker body: prompt, steps 1-8 (default 4), aspectRatio. */
export const workerRequestSchema = z
  .object({ prompt, steps: steps.optional(), aspectRatio: z.enum(['1:1', '16:9', '9:16', '4:3', '3:4']).optional() })
  .strict();
export type WorkerRequest = z.infer<typeof workerRequestSchema>;

export const FLUX_SCHNELL_MODEL = '@cf/black-forest-labs/flux-1-schnell';
const MODEL_NAME = /^@cf\/[\w.-]+\/[\w.-]+$/;

/** FLUX.1 schnell's documented body; other Workers AI models take their own parameters, passed through. */
const fluxSchnellSchema = z.object({ prompt, steps: steps.optional(), seed: z.number().int().min(0).optional() }).strict();

export function buildWorkerRequest(request: ResolvedRequest): WorkerRequest {
  const parsed = workerRequestSchema.safeParse({ ...request.params, prompt: request.prompt });
  if (!parsed.success) throw new InvalidRequestError(`Workers AI worker: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

export interface WorkersAiRun {
  model: string;
  body: Record<string, unknown>;
}

export function buildWorkersAiRun(request: ResolvedRequest): WorkersAiRun {
  const model = request.model || FLUX_SCHNELL_MODEL;
  if (!MODEL_NAME.test(model)) throw new InvalidRequestError(`"${model}" is not a Workers AI model name such as ${FLUX_SCHNELL_MODEL}`);
  const body = { ...request.params, prompt: request.prompt };
  const schema = model === FLUX_SCHNELL_MODEL ? fluxSchnellSchema : z.object({ prompt }).passthrough();
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new InvalidRequestError(`Workers AI ${model}: ${describeIssues(parsed.error)}`);
  return { model, body: parsed.data };
}

/** Workers AI's documented FLUX.1 schnell prices: per 512x512 tile and per step (US dollars). */
const USD_PER_TILE = 0.000053;
const USD_PER_STEP = 0.00011;
const DEFAULT_STEPS = 4;
/** The worker's documented output size per aspect ratio; the REST API renders 1024x1024. */
const WORKER_SIZES: Record<string, [number, number]> = {
  '1:1': [1024, 1024],
  '16:9': [1344, 768],
  '9:16': [768, 1344],
  '4:3': [1024, 768],
  '3:4': [768, 1024],
};

function fluxSchnellCost(width: number, height: number, steps: number): CostEstimate {
  const tiles = Math.ceil(width / 512) * Math.ceil(height / 512);
  return { unit: 'usd', amount: Math.round((tiles * USD_PER_TILE + steps * USD_PER_STEP) * 1e6) / 1e6 };
}

export function estimateWorkerCost(body: WorkerRequest): CostEstimate {
  const [width, height] = WORKER_SIZES[body.aspectRatio ?? '1:1'];
  return fluxSchnellCost(width, height, body.steps ?? DEFAULT_STEPS);
}

/** FLUX.1 schnell's cost on the REST API; other models publish no price here, so theirs is unknown. */
export function estimateWorkersAiCost(run: WorkersAiRun): CostEstimate | undefined {
  if (run.model !== FLUX_SCHNELL_MODEL) return undefined;
  return fluxSchnellCost(1024, 1024, typeof run.body.steps === 'number' ? run.body.steps : DEFAULT_STEPS);
}

function numberHeader(response: HttpResponse, name: string): number | undefined {
  const value = Number(response.headers[name]);
  return response.headers[name] !== undefined && Number.isFinite(value) ? value : undefined;
}

function imageFrom(client: HttpClient, bytes: Buffer, what: string): { data: Buffer; mimeType: string; width?: number; height?: number } {
  const mimeType = detectImageType(bytes);
  if (!mimeType) throw client.unreadableAnswer(`${what} did not answer with a PNG, JPEG or WebP image`, { intent: 'submit' });
  return { data: bytes, mimeType, ...imageSize(bytes) };
}

/** `POST /` on the user's worker: PNG bytes, with cost and size in `X-*` headers. */
export async function generateWithWorker(client: HttpClient, body: WorkerRequest, signal?: AbortSignal): Promise<Generation> {
  const submittedAt = new Date().toISOString();
  const response = await client.send({ method: 'POST', path: '', json: body, intent: 'submit', signal });
  const image = imageFrom(client, response.body, 'the worker');
  return {
    images: [{ ...image, width: numberHeader(response, 'x-image-width') ?? image.width, height: numberHeader(response, 'x-image-height') ?? image.height }],
    job: {
      provider: 'workers-ai',
      model: FLUX_SCHNELL_MODEL,
      status: 'completed',
      submittedAt,
      completedAt: new Date().toISOString(),
      cost: { usd: numberHeader(response, 'x-cost-usd'), neurons: numberHeader(response, 'x-neurons-used') },
      params: { ...body, steps: numberHeader(response, 'x-steps') ?? body.steps, tiles: numberHeader(response, 'x-tiles') },
    },
  };
}

const runAnswerSchema = z.object({ success: z.boolean(), result: z.object({ image: z.string().min(1) }) });

/**
 * `POST /accounts/{id}/ai/run/{model}`: FLUX answers base64 JPEG in JSON, some image models raw
 * `image/png`, so the answer is read by its Content-Type.
 */
export async function generateWithWorkersAi(client: HttpClient, accountId: string, run: WorkersAiRun, signal?: AbortSignal): Promise<Generation> {
  const submittedAt = new Date().toISOString();
  const response = await client.send({
    method: 'POST',
    path: `accounts/${encodeURIComponent(accountId)}/ai/run/${run.model}`,
    json: run.body,
    intent: 'submit',
    signal,
  });
  const isJson = (response.headers['content-type'] ?? '').includes('json');
  const bytes = isJson ? Buffer.from(client.parse(response, runAnswerSchema, { intent: 'submit' }).result.image, 'base64') : response.body;
  const image = imageFrom(client, bytes, `Workers AI ${run.model}`);
  return {
    images: [{ ...image, seed: run.body.seed as number | undefined }],
    job: { provider: 'cloudflare', model: run.model, status: 'completed', submittedAt, completedAt: new Date().toISOString(), params: run.body },
  };
}

// ---- Adapters ---------------------------------------------------------------------------------

/** workers-ai's settings; `endpoint` is used with a sandbox config, where a worker or cloudflare config decides by its kind. */
export const workersAiSettingsSchema = configuredRequestSchema.extend({ endpoint: z.enum(['worker', 'rest']).optional() });

const flux = { label: 'FLUX.1 schnell', price: '~$0.0007' };

/** The user's deployed worker (`workers-ai-flux-worker.md`): `POST /` answers PNG bytes. */
export const workerAdapter: ProviderAdapter = {
  kind: 'workers-ai',
  info: {
    label: 'Workers AI worker',
    defaultBaseUrl: '',
    defaultRpm: 720,
    defaultConcurrency: 8,
    needsApiKey: false,
    needsAccountId: false,
    needsBaseUrl: true,
    budgetUnit: 'usd',
  },
  authHeaders: bearerAuth,
  decodeError: decodeWorkerError,
  checkAccess: ({ client, signal }) => checkWorkerReachable(client, signal),
  prepare(request): Submission {
    const body = buildWorkerRequest(request);
    return { kind: 'immediate', estimate: estimateWorkerCost(body), generate: (client, signal) => generateWithWorker(client, body, signal) };
  },
  editor: { models: [{ id: FLUX_SCHNELL_MODEL, ...flux }], parameters: { '*': { schema: workerRequestSchema } } },
};

/** The account REST API: `POST /accounts/{id}/ai/run/{model}`. */
export const cloudflareAdapter: ProviderAdapter = {
  kind: 'cloudflare',
  info: {
    label: 'Cloudflare Workers AI',
    defaultBaseUrl: 'https://api.cloudflare.com/client/v4',
    defaultRpm: 720,
    defaultConcurrency: 8,
    needsApiKey: true,
    needsAccountId: true,
    needsBaseUrl: false,
    budgetUnit: 'usd',
  },
  authHeaders: bearerAuth,
  decodeError: decodeCloudflareError,
  checkAccess: ({ client, accountId, signal }) => checkCloudflareAccess(client, accountId ?? '', signal),
  prepare(request, _options, { accountId }): Submission {
    const run = buildWorkersAiRun(request);
    return {
      kind: 'immediate',
      estimate: estimateWorkersAiCost(run),
      generate: (client, signal) => generateWithWorkersAi(client, accountId ?? '', run, signal),
    };
  },
  editor: { models: [{ id: FLUX_SCHNELL_MODEL, ...flux }], parameters: { [FLUX_SCHNELL_MODEL]: { schema: fluxSchnellSchema } } },
};
