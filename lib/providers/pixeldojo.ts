import { z } from 'zod';
import { InvalidRequestError, describeIssues } from '../contract';
import type { Generation, JobInfo, JobSnapshot, ResolvedRequest } from '../contract';
import type { DecodedError, HttpClient, RequestSpec } from '../http';
import { ProviderError } from '../http';
import { submittingSettingsSchema } from '../jobs/settings';
import { parameterSchemaOf } from '../editor/node-settings';
import type { EditorSchema } from '../editor/node-settings';
import { bearerAuth } from './adapter';
import type { ProviderAdapter, Submission } from './adapter';
import type { CostEstimate } from './budget';
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

// ---- Synchronous POST /flux -------------------------------------------------------------------

/** Credits per image, from the /flux documentation. */
export const FLUX_MODEL_CREDITS = {
  'flux-pro': 1,
  'flux-1.1-pro': 1,
  'flux-1.1-pro-ultra': 1.5,
  'flux-dev-single-lora': 1,
} as const;
export type FluxModel = keyof typeof FLUX_MODEL_CREDITS;
const FLUX_MODELS = Object.keys(FLUX_MODEL_CREDITS) as [FluxModel, ...FluxModel[]];
export const ASPECT_RATIOS = ['1:1', '16:9', '9:16', '4:3', '3:4', '3:2', '2:3'] as const;
/** PixelDojo documents no prompt limit; Flux reads about 512 tokens, so longer prompts are cut. */
export const MAX_PROMPT_CHARS = 2000;

const promptSchema = z.string().min(1, 'the prompt is empty').max(MAX_PROMPT_CHARS, `the prompt is longer than ${MAX_PROMPT_CHARS} characters`);

/** Every documented /flux parameter, with its documented values. */
export const fluxRequestSchema = z
  .object({
    prompt: promptSchema,
    model: z.enum(FLUX_MODELS).default('flux-pro'),
    raw: z.boolean().optional(),
    aspect_ratio: z.enum(ASPECT_RATIOS).optional(),
    num_outputs: z.number().int().min(1).max(4).optional(),
    seed: z.number().int().min(0).max(2_147_483_647).optional(),
    output_format: z.enum(['png', 'jpg', 'webp']).optional(),
    output_quality: z.number().int().min(1).max(100).optional(),
    // Written without regex flags: the editor reads the pattern as JSON Schema, which carries none.
    lora_weights: z
      .string()
      .regex(/^[Hh][Tt][Tt][Pp][Ss]?:\/\/\S+$/, 'must be an http(s) URL')
      .optional(),
    lora_scale: z.number().min(0).max(2).optional(),
    num_inference_steps: z.number().int().min(1).max(50).optional(),
    guidance_scale: z.number().min(0).max(20).optional(),
    megapixels: z.enum(['1', '0.25']).optional(),
    go_fast: z.boolean().optional(),
  })
  .strict()
  .superRefine((request, context) => {
    if (request.raw !== undefined && request.model !== 'flux-1.1-pro-ultra') {
      context.addIssue({ code: 'custom', path: ['raw'], message: 'raw is only supported by flux-1.1-pro-ultra' });
    }
    const loraOnly = ['lora_weights', 'lora_scale'] as const;
    for (const name of loraOnly) {
      if (request[name] !== undefined && request.model !== 'flux-dev-single-lora') {
        context.addIssue({ code: 'custom', path: [name], message: `${request.model} has no LoRA support: use flux-dev-single-lora` });
      }
    }
  })
  .transform((request) => (request.model === 'flux-dev-single-lora' ? { ...request, go_fast: false } : request));
export type FluxRequest = z.output<typeof fluxRequestSchema>;

const fluxResponseSchema = z.object({
  images: z.array(z.string()),
  credits_used: z.number().optional(),
  credits_remaining: z.number().optional(),
});

/** Validates a /flux request before anything is sent: a bad one costs nothing. */
export function buildFluxRequest(request: ResolvedRequest): FluxRequest {
  const parsed = fluxRequestSchema.safeParse({ ...request.params, prompt: request.prompt, model: request.model || undefined });
  if (!parsed.success) throw new InvalidRequestError(`PixelDojo /flux: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** Credits a /flux request will cost, from the documented per-image prices. */
export function estimateFluxCost(body: FluxRequest): CostEstimate {
  return { unit: 'credits', amount: FLUX_MODEL_CREDITS[body.model] * (body.num_outputs ?? 1) };
}

const SYNC_URL_LIFETIME_MS = 24 * 3600_000;

export async function generateFlux(client: HttpClient, body: FluxRequest, signal?: AbortSignal): Promise<Generation> {
  const submittedAt = new Date();
  const answer = await client.json({ method: 'POST', path: 'flux', json: body, intent: 'submit', signal }, fluxResponseSchema);
  const completedAt = new Date();
  const expiresAt = new Date(completedAt.getTime() + SYNC_URL_LIFETIME_MS).toISOString();
  const { prompt: _prompt, model, ...params } = body;
  return {
    images: answer.images.map((url, index) => ({ url, expiresAt, ...(body.seed !== undefined ? { seed: body.seed + index } : {}) })),
    job: {
      provider: 'pixeldojo',
      model,
      status: 'completed',
      submittedAt: submittedAt.toISOString(),
      completedAt: completedAt.toISOString(),
      cost: answer.credits_used === undefined ? undefined : { credits: answer.credits_used },
      creditsRemaining: answer.credits_remaining,
      expiresAt,
      params: { prompt: body.prompt, ...params },
    },
  };
}

// ---- Async jobs API ---------------------------------------------------------------------------

const catalogueSchema = z.object({
  models: z.array(
    z.object({ apiId: z.string(), name: z.string().optional(), modality: z.string().optional(), creditCost: z.number().optional() }).passthrough(),
  ),
});
export type PixeldojoModel = z.infer<typeof catalogueSchema>['models'][number];

const modelDetailSchema = z.object({ apiId: z.string(), requestSchema: z.record(z.string(), z.unknown()).optional() }).passthrough();

const CATALOGUE_TTL_MS = 10 * 60_000;

type JsonSchema = Parameters<typeof z.fromJSONSchema>[0];

/**
 * The model list (`GET /models`, public) and each model's parameter schema, cached per client:
 * they change rarely, and checking against them lets bad input fail before a paid submit.
 */
export class PixeldojoCatalogue {
  private list?: { at: number; models: Promise<PixeldojoModel[]> };
  private readonly validators = new Map<string, Promise<z.ZodType | undefined>>();

  constructor(private readonly client: HttpClient) {}

  models(signal?: AbortSignal): Promise<PixeldojoModel[]> {
    if (!this.list || Date.now() - this.list.at > CATALOGUE_TTL_MS) {
      const models = this.client
        .json({ method: 'GET', path: 'models', intent: 'read', authenticate: false, signal }, catalogueSchema)
        .then((answer) => answer.models);
      models.catch(() => (this.list = undefined));
      this.list = { at: Date.now(), models };
    }
    return this.list.models;
  }

  /** The zod form of the model's JSON Schema, when the provider publishes one. */
  validator(apiId: string, signal?: AbortSignal): Promise<z.ZodType | undefined> {
    let validator = this.validators.get(apiId);
    if (!validator) {
      validator = this.client
        .json({ method: 'GET', path: `models/${encodeURIComponent(apiId)}`, intent: 'read', authenticate: false, signal }, modelDetailSchema)
        .then((detail) => (detail.requestSchema ? z.fromJSONSchema(detail.requestSchema as JsonSchema) : undefined));
      validator.catch(() => this.validators.delete(apiId));
      this.validators.set(apiId, validator);
    }
    return validator;
  }
}

/**
 * A catalogue model's parameters for the editor's form: the zod schema the runtime checks a submit
 * with, as JSON Schema, without what the node fills in (the prompt, and the webhook URL it adds).
 */
export async function catalogueParameters(catalogue: PixeldojoCatalogue, apiId: string, signal?: AbortSignal): Promise<EditorSchema | undefined> {
  const validator = await catalogue.validator(apiId, signal);
  return validator && parameterSchemaOf(validator, ['prompt', 'webhook_url']);
}

const catalogues = new WeakMap<HttpClient, PixeldojoCatalogue>();

/** One catalogue per client, so every node using a provider config shares its cache. */
export function catalogueFor(client: HttpClient): PixeldojoCatalogue {
  let catalogue = catalogues.get(client);
  if (!catalogue) {
    catalogue = new PixeldojoCatalogue(client);
    catalogues.set(client, catalogue);
  }
  return catalogue;
}

export interface PixeldojoRun {
  model: PixeldojoModel;
  body: Record<string, unknown>;
  /** Where PixelDojo should post the finished job; sent, but kept out of `job.params` (it carries a token). */
  webhookUrl?: string;
}

/** Checks a job request against the model list and the model's own schema; nothing is paid for yet. */
export async function buildPixeldojoRun(catalogue: PixeldojoCatalogue, request: ResolvedRequest, signal?: AbortSignal): Promise<PixeldojoRun> {
  if (!request.model) throw new InvalidRequestError('PixelDojo jobs need a model: pick one in the node or set msg.model');
  const body = { ...request.params, prompt: request.prompt };
  const prompt = promptSchema.safeParse(request.prompt);
  if (!prompt.success) throw new InvalidRequestError(`PixelDojo ${request.model}: ${describeIssues(prompt.error, 'prompt')}`);
  const models = await catalogue.models(signal);
  const model = models.find((candidate) => candidate.apiId === request.model);
  if (!model) {
    throw new InvalidRequestError(`PixelDojo has no model "${request.model}"; available: ${models.map((entry) => entry.apiId).join(', ')}`);
  }
  const validator = await catalogue.validator(model.apiId, signal);
  const checked = validator?.safeParse(body);
  if (checked && !checked.success) throw new InvalidRequestError(`PixelDojo ${model.apiId}: ${describeIssues(checked.error)}`);
  return { model, body };
}

/** Credits a job will cost: the catalogue's `creditCost` per output; unknown when the catalogue gives none. */
export function estimatePixeldojoRunCost(run: PixeldojoRun): CostEstimate | undefined {
  if (run.model.creditCost === undefined) return undefined;
  const outputs = typeof run.body.num_outputs === 'number' ? run.body.num_outputs : 1;
  return { unit: 'credits', amount: run.model.creditCost * outputs };
}

const submitSchema = z.object({
  jobId: z.string(),
  status: z.string(),
  statusUrl: z.string().optional(),
  creditCost: z.number().optional(),
  creditsRemaining: z.number().optional(),
});

export async function submitPixeldojoJob(
  client: HttpClient,
  run: PixeldojoRun,
  request: Pick<RequestSpec, 'signal' | 'beforeSend' | 'onWait'> = {},
): Promise<JobInfo> {
  const answer = await client.json(
    {
      method: 'POST',
      path: `models/${encodeURIComponent(run.model.apiId)}/run`,
      json: { ...run.body, ...(run.webhookUrl ? { webhook_url: run.webhookUrl } : {}) },
      intent: 'submit',
      ...request,
    },
    submitSchema,
  );
  return {
    provider: 'pixeldojo',
    model: run.model.apiId,
    id: answer.jobId,
    status: 'pending',
    submittedAt: new Date().toISOString(),
    cost: answer.creditCost === undefined ? undefined : { credits: answer.creditCost },
    creditsRemaining: answer.creditsRemaining,
    params: run.body,
  };
}

const jobSchema = z
  .object({
    jobId: z.string().optional(),
    status: z.string(),
    output: z
      .object({ images: z.array(z.string()).optional(), videos: z.array(z.string()).optional() })
      .partial()
      .nullish(),
    assets: z.array(z.object({ url: z.string() }).passthrough()).nullish(),
    creditCost: z.number().optional(),
    expiresAt: z.string().optional(),
    error: z.union([z.string(), z.object({ message: z.string().optional(), code: z.string().optional() }).passthrough()]).nullish(),
  })
  .passthrough();

const PIXELDOJO_STATUS: Record<string, JobSnapshot['status']> = {
  pending: 'pending',
  queued: 'pending',
  processing: 'processing',
  running: 'processing',
  completed: 'completed',
  succeeded: 'completed',
  failed: 'failed',
  error: 'failed',
  cancelled: 'failed',
  canceled: 'failed',
  expired: 'expired',
};

/** A job object, normalised; undefined for an unknown status. */
function snapshotOfJob(job: z.infer<typeof jobSchema>): JobSnapshot | undefined {
  const status = PIXELDOJO_STATUS[job.status.toLowerCase()];
  if (!status) return undefined;
  // Completed jobs carry `output.images[]` (or videos) or `assets[].url`, depending on the model.
  const urls = [...(job.output?.images ?? []), ...(job.output?.videos ?? []), ...(job.assets ?? []).map((asset) => asset.url)];
  return {
    status,
    images: urls.map((url) => ({ url, expiresAt: job.expiresAt })),
    reason: typeof job.error === 'string' ? job.error : (job.error?.message ?? job.error?.code),
    cost: job.creditCost === undefined ? undefined : { credits: job.creditCost },
    expiresAt: job.expiresAt,
  };
}

/** `GET /jobs/{id}`, normalised; HTTP 410 means the job (and its outputs) expired. */
export async function pixeldojoJobSnapshot(client: HttpClient, jobId: string, signal?: AbortSignal): Promise<JobSnapshot> {
  let job: z.infer<typeof jobSchema>;
  try {
    job = await client.json({ method: 'GET', path: `jobs/${encodeURIComponent(jobId)}`, intent: 'read', signal, jobId }, jobSchema);
  } catch (error) {
    if (error instanceof ProviderError && error.status === 410) return { status: 'expired' };
    throw error;
  }
  const snapshot = snapshotOfJob(job);
  if (!snapshot) throw client.error(`PixelDojo reported an unknown job status "${job.status}"`, { jobId }, { kind: 'malformed', retryable: false });
  return snapshot;
}

/** A PixelDojo webhook body (the job object, as `GET /jobs/{id}` shows it); undefined when it is not one. */
export function readPixeldojoWebhook(body: unknown): { jobId?: string; snapshot: JobSnapshot } | undefined {
  const parsed = jobSchema.safeParse(body);
  const snapshot = parsed.success ? snapshotOfJob(parsed.data) : undefined;
  return parsed.success && snapshot ? { jobId: parsed.data.jobId, snapshot } : undefined;
}

// ---- Adapter ----------------------------------------------------------------------------------

/** flux-generate's `endpoint` on PixelDojo: the synchronous `POST /flux`, or the async jobs API. */
export const PIXELDOJO_ENDPOINTS = ['flux', 'jobs'] as const;
export type PixeldojoEndpoint = (typeof PIXELDOJO_ENDPOINTS)[number];

/** Query parameter carrying a PixelDojo job's token: PixelDojo documents no signature, so the URL is the secret. */
export const TOKEN_PARAMETER = 'token';

/** PixelDojo's `webhook_url` for one job: the endpoint with the job's token. */
export function pixeldojoWebhookUrl(endpointUrl: string, secret: string): string {
  const url = new URL(endpointUrl);
  url.searchParams.set(TOKEN_PARAMETER, secret);
  return url.toString();
}

export const pixeldojoAdapter: ProviderAdapter<{ endpoint?: PixeldojoEndpoint }> = {
  kind: 'pixeldojo',
  info: {
    label: 'PixelDojo',
    defaultBaseUrl: 'https://pixeldojo.ai/api/v1',
    defaultRpm: 60,
    defaultConcurrency: 4,
    needsApiKey: true,
    needsAccountId: false,
    needsBaseUrl: false,
    budgetUnit: 'credits',
  },
  authHeaders: bearerAuth,
  decodeError: decodePixeldojoError,
  checkAccess: ({ client, signal }) => checkPixeldojoAccess(client, signal),
  async prepare(request, { endpoint }, { client, signal }): Promise<Submission> {
    if (endpoint !== 'jobs') {
      const body = buildFluxRequest(request);
      return { kind: 'immediate', estimate: estimateFluxCost(body), generate: (target, abort) => generateFlux(target, body, abort) };
    }
    const run = await buildPixeldojoRun(catalogueFor(client), request, signal);
    return {
      kind: 'job',
      draft: { provider: 'pixeldojo', model: run.model.apiId, status: 'pending', params: run.body },
      estimate: estimatePixeldojoRunCost(run),
      send: (target, callback, spec) =>
        submitPixeldojoJob(target, { ...run, webhookUrl: callback && pixeldojoWebhookUrl(callback.url, callback.secret) }, spec),
    };
  },
  poll: (client, job, signal) => pixeldojoJobSnapshot(client, job.id as string, signal),
  webhook: {
    secretOf: (query) => (typeof query[TOKEN_PARAMETER] === 'string' && query[TOKEN_PARAMETER] ? query[TOKEN_PARAMETER] : undefined),
    read: readPixeldojoWebhook,
  },
  editor: {
    models: Object.entries(FLUX_MODEL_CREDITS).map(([id, credits]) => ({ id, price: `${credits} cr` })),
    modelsEndpoint: 'image-gen/pixeldojo/models',
    // The /flux parameters; a jobs API model's come with it from PixelDojo's catalogue.
    parameters: { '*': { schema: fluxRequestSchema, filledByNode: ['prompt', 'model'] } },
  },
};

/**
 * flux-generate's settings. `endpoint`: on PixelDojo, `flux` is the synchronous POST /flux and `jobs` the
 * async jobs API; with a sandbox config, which serves every API, `bfl` picks Black Forest Labs' (a bfl
 * config always does).
 */
export const fluxGenerateSettingsSchema = submittingSettingsSchema.extend({ endpoint: z.enum([...PIXELDOJO_ENDPOINTS, 'bfl']).optional() });
