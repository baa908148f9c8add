import { z } from 'zod';
import { InvalidRequestError, describeIssues } from '../contract';
import type { JobInfo, JobSnapshot, ResolvedRequest } from '../contract';
import type { DecodedError, HttpClient, RequestSpec } from '../http';
import type { ProviderAdapter, Submission } from './adapter';
import type { CostEstimate } from './budget';
import { decodeWith } from './errors';

/** BFL's errors: FastAPI's `{detail}`, a string or a list of field problems. */
const errorBodySchema = z.object({
  detail: z.union([z.string(), z.array(z.object({ loc: z.array(z.union([z.string(), z.number()])).optional(), msg: z.string() }).passthrough())]),
});

const STATUS_ADVICE: Record<number, string> = {
  401: 'the API key was refused: check it in the provider config',
  402: 'not enough credits: top up the BFL account',
  403: 'the API key may not use this endpoint',
};

export function decodeBflError(status: number, body: string): DecodedError | undefined {
  return decodeWith(errorBodySchema, body, ({ detail }) => {
    const said = typeof detail === 'string' ? detail : detail.map((issue) => `${(issue.loc ?? []).slice(1).join('.') || 'body'}: ${issue.msg}`).join('; ');
    const advice = STATUS_ADVICE[status];
    return { message: advice ? `${said} - ${advice}` : said };
  });
}

const creditsSchema = z.object({ credits: z.number() });

/** `GET /v1/credits` costs nothing and needs a valid key. */
export async function checkBflAccess(client: HttpClient, signal?: AbortSignal): Promise<string> {
  const { credits } = await client.json({ method: 'GET', path: 'v1/credits', intent: 'read', signal }, creditsSchema);
  return `BFL accepted the API key; ${credits} credits left`;
}

// ---- Requests ---------------------------------------------------------------------------------

const prompt = z.string().min(1, 'the prompt is empty').max(10_000, 'the prompt is longer than 10000 characters');
/** 256-1440 in steps of 32, BFL's documented sizes for the models that take width and height. */
const side = z.number().int().min(256).max(1440).multipleOf(32, 'must be a multiple of 32');
const seed = z.number().int().min(0).max(4_294_967_295);
const safetyTolerance = z.number().int().min(0).max(6);
const outputFormat = z.enum(['jpeg', 'png']);
/** A base64 image or an http(s) URL to one. */
const image = z.string().min(1);
const aspectRatio = z.string().regex(/^\d{1,2}:\d{1,2}$/, 'must be a ratio such as 16:9');

const common = {
  seed: seed.optional(),
  safety_tolerance: safetyTolerance.optional(),
  output_format: outputFormat.optional(),
  prompt_upsampling: z.boolean().optional(),
};
const sized = { width: side.optional(), height: side.optional() };
const fluxTwoImages = {
  input_image: image.optional(),
  input_image_2: image.optional(),
  input_image_3: image.optional(),
  input_image_4: image.optional(),
};

/** Each endpoint's documented inputs (POST /v1/<model>), and its price per image in credits (1 credit = 0.01 USD). */
export const BFL_MODELS = {
  'flux-pro-1.1': { credits: 4, schema: z.object({ prompt, ...sized, ...common, image_prompt: image.optional() }).strict() },
  'flux-pro-1.1-ultra': {
    credits: 6,
    schema: z
      .object({
        prompt,
        aspect_ratio: aspectRatio.optional(),
        raw: z.boolean().optional(),
        image_prompt: image.optional(),
        image_prompt_strength: z.number().min(0).max(1).optional(),
        ...common,
      })
      .strict(),
  },
  'flux-dev': {
    credits: 2.5,
    schema: z
      .object({
        prompt,
        ...sized,
        steps: z.number().int().min(1).max(50).optional(),
        guidance: z.number().min(1.5).max(5).optional(),
        image_prompt: image.optional(),
        ...common,
      })
      .strict(),
  },
  'flux-kontext-pro': { credits: 4, schema: z.object({ prompt, input_image: image.optional(), aspect_ratio: aspectRatio.optional(), ...common }).strict() },
  'flux-kontext-max': { credits: 8, schema: z.object({ prompt, input_image: image.optional(), aspect_ratio: aspectRatio.optional(), ...common }).strict() },
  'flux-pro-1.0-fill': {
    credits: 5,
    schema: z
      .object({
        prompt: prompt.optional(),
        image,
        mask: image.optional(),
        steps: z.number().int().min(15).max(50).optional(),
        guidance: z.number().min(1.5).max(100).optional(),
        ...common,
      })
      .strict(),
  },
  'flux-pro-1.0-expand': {
    credits: 5,
    schema: z
      .object({
        prompt: prompt.optional(),
        image,
        top: z.number().int().min(0).max(2048).optional(),
        bottom: z.number().int().min(0).max(2048).optional(),
        left: z.number().int().min(0).max(2048).optional(),
        right: z.number().int().min(0).max(2048).optional(),
        steps: z.number().int().min(15).max(50).optional(),
        guidance: z.number().min(1.5).max(100).optional(),
        ...common,
      })
      .strict(),
  },
  'flux-2-pro': { credits: 3, schema: z.object({ prompt, ...sized, ...fluxTwoImages, ...common }).strict() },
  'flux-2-max': { credits: 7, schema: z.object({ prompt, ...sized, ...fluxTwoImages, ...common }).strict() },
  'flux-2-flex': {
    credits: 6,
    schema: z
      .object({
        prompt,
        ...sized,
        ...fluxTwoImages,
        steps: z.number().int().min(1).max(50).optional(),
        guidance: z.number().min(1.5).max(10).optional(),
        ...common,
      })
      .strict(),
  },
  'flux-2-klein-4b': { credits: 1.4, schema: z.object({ prompt, ...sized, ...fluxTwoImages, ...common }).strict() },
  'flux-2-klein-9b': { credits: 1.5, schema: z.object({ prompt, ...sized, ...fluxTwoImages, ...common }).strict() },
} as const;
export type BflModel = keyof typeof BFL_MODELS;
export const BFL_MODEL_NAMES = Object.keys(BFL_MODELS) as BflModel[];

export interface BflRequest {
  model: BflModel;
  body: Record<string, unknown>;
}

/** Checks a request against its endpoint's documented inputs; nothing is sent. */
export function buildBflRequest(request: ResolvedRequest): BflRequest {
  const model = (request.model || 'flux-pro-1.1') as BflModel;
  if (!BFL_MODEL_NAMES.includes(model)) throw new InvalidRequestError(`BFL has no endpoint "${model}"; use one of ${BFL_MODEL_NAMES.join(', ')}`);
  const parsed = BFL_MODELS[model].schema.safeParse({ ...request.params, ...(request.prompt ? { prompt: request.prompt } : {}) });
  if (!parsed.success) throw new InvalidRequestError(`BFL ${model}: ${describeIssues(parsed.error)}`);
  return { model, body: parsed.data };
}

/** Credits a request will cost, from BFL's price per image. */
export function estimateBflCost(request: BflRequest): CostEstimate {
  return { unit: 'credits', amount: BFL_MODELS[request.model].credits };
}

const submitSchema = z.object({ id: z.string().min(1), polling_url: z.string().optional(), cost: z.number().nullish() });

/** The query parameter carrying a BFL job's token on its webhook URL. */
export const BFL_TOKEN_PARAMETER = 'bfl_token';

export async function submitBflRequest(
  client: HttpClient,
  request: BflRequest,
  callback: { url: string; secret: string } | undefined,
  spec: Pick<RequestSpec, 'signal' | 'beforeSend' | 'onWait'>,
): Promise<JobInfo> {
  const webhook = callback && { webhook_url: tokenUrl(callback.url, callback.secret), webhook_secret: callback.secret };
  const answer = await client.json(
    { method: 'POST', path: `v1/${request.model}`, json: { ...request.body, ...webhook }, intent: 'submit', ...spec },
    submitSchema,
  );
  return {
    provider: 'bfl',
    model: request.model,
    id: answer.id,
    status: 'pending',
    submittedAt: new Date().toISOString(),
    ...(answer.polling_url ? { pollUrl: answer.polling_url } : {}),
    cost: typeof answer.cost === 'number' ? { credits: answer.cost, usd: Math.round(answer.cost * 1e4) / 1e6 } : undefined,
    params: request.body,
  };
}

function tokenUrl(endpointUrl: string, secret: string): string {
  const url = new URL(endpointUrl);
  url.searchParams.set(BFL_TOKEN_PARAMETER, secret);
  return url.toString();
}

/** BFL's result URLs are signed for 10 minutes. */
const RESULT_LIFETIME_MS = 10 * 60_000;

const resultSchema = z
  .object({
    id: z.string().optional(),
    status: z.string(),
    result: z.object({ sample: z.string().optional(), seed: z.number().optional() }).passthrough().nullish(),
    error: z.string().nullish(),
    message: z.string().nullish(),
    details: z.unknown().optional(),
  })
  .passthrough();

/** A result, normalised; undefined for an unknown status. Both moderation statuses say so, apart from failures. */
function snapshotOf(answer: z.infer<typeof resultSchema>): JobSnapshot | undefined {
  switch (answer.status) {
    case 'Pending':
      return { status: 'processing' };
    case 'Ready': {
      const expiresAt = new Date(Date.now() + RESULT_LIFETIME_MS).toISOString();
      const sample = answer.result?.sample;
      return {
        status: 'completed',
        expiresAt,
        images: sample ? [{ url: sample, expiresAt, ...(answer.result?.seed === undefined ? {} : { seed: answer.result.seed }) }] : [],
      };
    }
    case 'Request Moderated':
      return { status: 'failed', moderated: true, reason: 'BFL moderated the request (its prompt or input image)' };
    case 'Content Moderated':
      return { status: 'failed', moderated: true, reason: 'BFL moderated the generated image' };
    case 'Error':
      return { status: 'failed', reason: answer.message ?? answer.error ?? 'BFL reported an error' };
    case 'Task not found':
      return { status: 'expired' };
    default:
      return undefined;
  }
}

/** The provider's own hosts: polls carry the key, so they go nowhere else (or to the configured base URL's host). */
function pollTarget(client: HttpClient, job: JobInfo): string {
  if (!job.pollUrl) return `v1/get_result?id=${encodeURIComponent(job.id as string)}`;
  let url: URL;
  try {
    url = new URL(job.pollUrl);
  } catch {
    throw new InvalidRequestError(`msg.job.pollUrl is not a URL`);
  }
  const own = url.hostname === 'bfl.ai' || url.hostname.endsWith('.bfl.ai') || url.host === client.baseHost;
  if (!own || !/^https?:$/.test(url.protocol)) {
    throw new InvalidRequestError(`the polling URL ${url.origin} is not BFL's nor the provider config's host: the key is not sent there`);
  }
  return url.toString();
}

/** Reads a job at its polling_url (BFL requires it: the region that runs a job answers for it). */
export async function bflResultSnapshot(client: HttpClient, job: JobInfo, signal?: AbortSignal): Promise<JobSnapshot> {
  const path = pollTarget(client, job);
  const answer = await client.json({ method: 'GET', path, intent: 'read', signal, jobId: job.id }, resultSchema);
  const snapshot = snapshotOf(answer);
  if (!snapshot) throw client.error(`BFL reported an unknown status "${answer.status}"`, { jobId: job.id }, { kind: 'malformed', retryable: false });
  return snapshot;
}

/** A BFL webhook body (the result object, as a poll shows it); undefined when it is not one. */
export function readBflWebhook(body: unknown): { jobId?: string; snapshot: JobSnapshot } | undefined {
  const parsed = resultSchema.safeParse(body);
  const snapshot = parsed.success ? snapshotOf(parsed.data) : undefined;
  return parsed.success && snapshot ? { jobId: parsed.data.id, snapshot } : undefined;
}

// ---- Adapter ----------------------------------------------------------------------------------

export const bflAdapter: ProviderAdapter = {
  kind: 'bfl',
  info: {
    label: 'Black Forest Labs',
    defaultBaseUrl: 'https://api.bfl.ai',
    defaultRpm: 120,
    defaultConcurrency: 24,
    needsApiKey: true,
    needsAccountId: false,
    needsBaseUrl: false,
    budgetUnit: 'credits',
    downloadByDefault: true,
  },
  authHeaders: (apiKey): Record<string, string> => (apiKey ? { 'x-key': apiKey } : {}),
  decodeError: decodeBflError,
  checkAccess: ({ client, signal }) => checkBflAccess(client, signal),
  prepare(request): Submission {
    const checked = buildBflRequest(request);
    return {
      kind: 'job',
      draft: { provider: 'bfl', model: checked.model, status: 'pending', params: checked.body },
      estimate: estimateBflCost(checked),
      send: (client, callback, spec) => submitBflRequest(client, checked, callback, spec),
    };
  },
  poll: bflResultSnapshot,
  webhook: {
    // Each job's webhook URL carries its token, checked like PixelDojo's; BFL also gets it as webhook_secret to sign with.
    secretOf: (query) => (typeof query[BFL_TOKEN_PARAMETER] === 'string' && query[BFL_TOKEN_PARAMETER] ? query[BFL_TOKEN_PARAMETER] : undefined),
    read: readBflWebhook,
  },
  editor: {
    models: BFL_MODEL_NAMES.map((id) => ({ id, price: `${BFL_MODELS[id].credits} cr` })),
    parameters: Object.fromEntries(BFL_MODEL_NAMES.map((id) => [id, { schema: BFL_MODELS[id].schema }])),
  },
};
