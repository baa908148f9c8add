import { z } from 'zod';
import { InvalidRequestError, describeIssues } from '../contract';
import type { Cost, JobInfo, JobSnapshot, ResolvedRequest } from '../contract';
import { ProviderError } from '../http';
import type { DecodedError, HttpClient, RequestSpec } from '../http';
import { submittingSettingsSchema } from '../jobs/settings';
import { bearerAuth } from './adapter';
import type { ProviderAdapter, Submission } from './adapter';
import type { CostEstimate } from './budget';
import { decodeWith } from './errors';

/** Leonardo's REST errors: `{error, path?, code?}` (its GraphQL gateway's shape). */
const errorBodySchema = z.object({ error: z.string(), code: z.string().optional() });

/** What a person can do about Leonardo's refusals. */
const STATUS_ADVICE: Record<number, string> = {
  401: 'the API key was refused: check it in the provider config',
  402: 'not enough API credits: top up the Leonardo API balance',
  403: 'the API key may not use this model or feature',
};

export function decodeLeonardoError(status: number, body: string): DecodedError | undefined {
  return decodeWith(errorBodySchema, body, ({ error, code }) => {
    const advice = STATUS_ADVICE[status] ?? (/credit|token/i.test(error) && /not enough|insufficient/i.test(error) ? STATUS_ADVICE[402] : undefined);
    return { code, message: advice ? `${error} - ${advice}` : error };
  });
}

const meSchema = z.object({
  user_details: z
    .array(
      z
        .object({
          user: z.object({ id: z.string().optional(), username: z.string().nullish() }).passthrough().optional(),
          apiCredit: z.number().nullish(),
          apiPaidTokens: z.number().nullish(),
          apiSubscriptionTokens: z.number().nullish(),
        })
        .passthrough(),
    )
    .min(1),
});

/** `GET /me` costs nothing and needs a valid key; it shows the API balance. */
export async function checkLeonardoAccess(client: HttpClient, signal?: AbortSignal): Promise<string> {
  const me = await client.json({ method: 'GET', path: 'me', intent: 'read', signal }, meSchema);
  const details = me.user_details[0];
  const balance = details?.apiCredit ?? ((details?.apiPaidTokens ?? 0) + (details?.apiSubscriptionTokens ?? 0) || undefined);
  const who = details?.user?.username ? ` for ${details.user.username}` : '';
  return `Leonardo accepted the API key${who}${balance === undefined ? '' : `; API balance: ${balance}`}`;
}

// ---- Generations ------------------------------------------------------------------------------

/** `presetStyle`, as Leonardo documents it. */
export const LEONARDO_PRESET_STYLES = [
  'ANIME',
  'BOKEH',
  'CINEMATIC',
  'CINEMATIC_CLOSEUP',
  'CREATIVE',
  'DYNAMIC',
  'ENVIRONMENT',
  'FASHION',
  'FILM',
  'FOOD',
  'GENERAL',
  'HDR',
  'ILLUSTRATION',
  'LEONARDO',
  'LONG_EXPOSURE',
  'MACRO',
  'MINIMALISTIC',
  'MONOCHROME',
  'MOODY',
  'NONE',
  'NEUTRAL',
  'PHOTOGRAPHY',
  'PORTRAIT',
  'RAYTRACED',
  'RENDER_3D',
  'RETRO',
  'SKETCH_BW',
  'SKETCH_COLOR',
  'STOCK_PHOTO',
  'VIBRANT',
  'UNPROCESSED',
] as const;
const SCHEDULERS = ['KLMS', 'EULER_ANCESTRAL_DISCRETE', 'EULER_DISCRETE', 'DDIM', 'DPM_SOLVER', 'PNDM', 'LEONARDO'] as const;
const SD_VERSIONS = ['v1_5', 'v2', 'v3', 'SDXL_0_8', 'SDXL_0_9', 'SDXL_1_0', 'SDXL_LIGHTNING', 'PHOENIX', 'FLUX', 'FLUX_DEV', 'KINO_2_0'] as const;
/** `contrast` takes one of these values. */
const CONTRASTS = [1, 1.3, 1.8, 2.5, 3, 3.5, 4, 4.5] as const;
/** Above this side, Leonardo generates at most 4 images at a time. */
const LARGE_SIDE = 768;

const dimension = z.number().int().min(32).max(1536).multipleOf(8, 'must be a multiple of 8');

/** Every documented `POST /generations` field this node sends, with its documented limits. */
export const leonardoGenerationSchema = z
  .object({
    prompt: z.string().min(1, 'the prompt is empty').max(1500, 'the prompt is longer than 1500 characters'),
    modelId: z.guid('must be a Leonardo model id, a UUID such as de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3').optional(),
    negative_prompt: z.string().max(1500).optional(),
    width: dimension.optional(),
    height: dimension.optional(),
    num_images: z.number().int().min(1).max(8).optional(),
    alchemy: z.boolean().optional(),
    ultra: z.boolean().optional(),
    presetStyle: z.enum(LEONARDO_PRESET_STYLES).optional(),
    contrast: z.literal(CONTRASTS, { error: `must be one of ${CONTRASTS.join(', ')}` }).optional(),
    guidance_scale: z.number().min(1).max(20).optional(),
    num_inference_steps: z.number().int().min(10).max(60).optional(),
    seed: z.number().int().min(0).max(4_294_967_295).optional(),
    init_image_id: z.guid('must be the id of an uploaded or generated Leonardo image').optional(),
    init_strength: z.number().min(0.1).max(0.9).optional(),
    scheduler: z.enum(SCHEDULERS).optional(),
    sd_version: z.enum(SD_VERSIONS).optional(),
    photoReal: z.boolean().optional(),
    photoRealVersion: z.enum(['v1', 'v2']).optional(),
    photoRealStrength: z.number().min(0).max(1).optional(),
    promptMagic: z.boolean().optional(),
    promptMagicVersion: z.enum(['v2', 'v3']).optional(),
    promptMagicStrength: z.number().min(0.1).max(1).optional(),
    highResolution: z.boolean().optional(),
    expandedDomain: z.boolean().optional(),
    enhancePrompt: z.boolean().optional(),
    transparency: z.enum(['disabled', 'foreground_only']).optional(),
    tiling: z.boolean().optional(),
    public: z.boolean().optional(),
    nsfw: z.boolean().optional(),
  })
  .strict()
  .superRefine((body, context) => {
    if (body.ultra && body.alchemy) context.addIssue({ code: 'custom', path: ['ultra'], message: 'ultra cannot be combined with alchemy' });
    const large = (body.width ?? 0) > LARGE_SIDE || (body.height ?? 0) > LARGE_SIDE;
    if (large && (body.num_images ?? 1) > 4) {
      context.addIssue({ code: 'custom', path: ['num_images'], message: `at most 4 images above ${LARGE_SIDE} pixels a side` });
    }
    if (body.init_strength !== undefined && !body.init_image_id) {
      context.addIssue({ code: 'custom', path: ['init_strength'], message: 'init_strength needs an init_image_id' });
    }
  });
export type LeonardoGeneration = z.output<typeof leonardoGenerationSchema>;

/** Checks a generation against Leonardo's documented rules; nothing is sent. */
export function buildLeonardoGeneration(request: ResolvedRequest): LeonardoGeneration {
  const parsed = leonardoGenerationSchema.safeParse({ ...request.params, prompt: request.prompt, ...(request.model ? { modelId: request.model } : {}) });
  if (!parsed.success) throw new InvalidRequestError(`Leonardo: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

const priceSchema = z.object({ calculateProductionApiServiceCost: z.object({ cost: z.number().nonnegative() }) });

/** API credits a generation will cost, from Leonardo's free pricing calculator (`POST /pricing-calculator`). */
export async function estimateLeonardoCost(client: HttpClient, body: LeonardoGeneration, signal?: AbortSignal): Promise<CostEstimate> {
  const answer = await client.json(
    {
      method: 'POST',
      path: 'pricing-calculator',
      intent: 'read',
      signal,
      json: {
        service: 'IMAGE_GENERATION',
        serviceParams: {
          IMAGE_GENERATION: {
            imageWidth: body.width ?? 1024,
            imageHeight: body.height ?? 768,
            numImages: body.num_images ?? 4,
            inferenceSteps: body.num_inference_steps ?? 15,
            promptMagic: body.promptMagic ?? false,
            alchemyMode: body.alchemy ?? false,
            highResolution: body.highResolution ?? false,
            isModelCustom: false,
            isSDXL: body.sd_version ? body.sd_version.startsWith('SDXL') : false,
            isPhoenix: body.sd_version === 'PHOENIX',
          },
        },
      },
    },
    priceSchema,
  );
  return { unit: 'credits', amount: answer.calculateProductionApiServiceCost.cost };
}

/** `{sdGenerationJob: {generationId, cost: {amount, unit}}}`; older answers give `apiCreditCost` instead. */
const submitSchema = z.object({
  sdGenerationJob: z.object({
    generationId: z.string().min(1),
    cost: z.object({ amount: z.number(), unit: z.string() }).nullish(),
    apiCreditCost: z.number().nullish(),
  }),
});

function costOf(job: z.infer<typeof submitSchema>['sdGenerationJob']): Cost | undefined {
  if (job.cost) return job.cost.unit.toUpperCase() === 'DOLLARS' ? { usd: job.cost.amount } : { credits: job.cost.amount };
  return typeof job.apiCreditCost === 'number' ? { credits: job.apiCreditCost } : undefined;
}

export async function submitLeonardoGeneration(
  client: HttpClient,
  body: LeonardoGeneration,
  spec: Pick<RequestSpec, 'signal' | 'beforeSend' | 'onWait'>,
): Promise<JobInfo> {
  const answer = await client.json({ method: 'POST', path: 'generations', json: body, intent: 'submit', ...spec }, submitSchema);
  const { prompt: _prompt, modelId, ...params } = body;
  return {
    provider: 'leonardo',
    model: modelId ?? '',
    id: answer.sdGenerationJob.generationId,
    status: 'pending',
    submittedAt: new Date().toISOString(),
    cost: costOf(answer.sdGenerationJob),
    params: { prompt: body.prompt, ...params },
  };
}

const imageSchema = z.object({ id: z.string().optional(), url: z.string(), nsfw: z.boolean().optional() }).passthrough();
const generationSchema = z
  .object({
    id: z.string().optional(),
    status: z.string(),
    generated_images: z.array(imageSchema).nullish(),
    images: z.array(imageSchema).nullish(),
    seed: z.number().nullish(),
    imageWidth: z.number().nullish(),
    imageHeight: z.number().nullish(),
  })
  .passthrough();

const LEONARDO_STATUS: Record<string, JobSnapshot['status']> = { PENDING: 'processing', COMPLETE: 'completed', FAILED: 'failed' };

/** A generation, normalised; undefined for an unknown status. Each image keeps Leonardo's `nsfw` flag. */
function snapshotOf(generation: z.infer<typeof generationSchema>): JobSnapshot | undefined {
  const status = LEONARDO_STATUS[generation.status.toUpperCase()];
  if (!status) return undefined;
  const images = generation.generated_images ?? generation.images ?? [];
  return {
    status,
    images: images.map((image) => ({
      url: image.url,
      ...(image.nsfw === undefined ? {} : { nsfw: image.nsfw }),
      ...(generation.imageWidth ? { width: generation.imageWidth } : {}),
      ...(generation.imageHeight ? { height: generation.imageHeight } : {}),
      ...(typeof generation.seed === 'number' ? { seed: generation.seed } : {}),
    })),
    reason: status === 'failed' ? 'Leonardo reports the generation FAILED' : undefined,
  };
}

const pollSchema = z.object({ generations_by_pk: generationSchema.nullable() });

/** `GET /generations/{id}`, normalised; a generation that no longer exists is reported expired. */
export async function leonardoGenerationSnapshot(client: HttpClient, generationId: string, signal?: AbortSignal): Promise<JobSnapshot> {
  let answer: z.infer<typeof pollSchema>;
  try {
    answer = await client.json(
      { method: 'GET', path: `generations/${encodeURIComponent(generationId)}`, intent: 'read', signal, jobId: generationId },
      pollSchema,
    );
  } catch (error) {
    if (error instanceof ProviderError && error.status === 404) return { status: 'expired' };
    throw error;
  }
  if (!answer.generations_by_pk) return { status: 'expired' };
  const snapshot = snapshotOf(answer.generations_by_pk);
  if (!snapshot)
    throw client.error(
      `Leonardo reported an unknown status "${answer.generations_by_pk.status}"`,
      { jobId: generationId },
      { kind: 'malformed', retryable: false },
    );
  return snapshot;
}

const webhookSchema = z.object({ type: z.string(), data: z.object({ object: generationSchema.extend({ id: z.string() }) }) });

/** A Leonardo webhook body, `{type: "image_generation.complete", data: {object: <generation>}}`; undefined when it is not one. */
export function readLeonardoWebhook(body: unknown): { jobId: string; snapshot: JobSnapshot } | undefined {
  const parsed = webhookSchema.safeParse(body);
  const snapshot = parsed.success ? snapshotOf(parsed.data.data.object) : undefined;
  return parsed.success && snapshot ? { jobId: parsed.data.data.object.id, snapshot } : undefined;
}

/** The job id of a delivery, read loosely: only to name the job whose secret is checked. */
function deliveredJobId(body: unknown): string | undefined {
  const id = (body as { data?: { object?: { id?: unknown } } } | null | undefined)?.data?.object?.id;
  return typeof id === 'string' && id ? id : undefined;
}

const BEARER = /^Bearer\s+(\S+)$/i;

// ---- Adapter ----------------------------------------------------------------------------------

/** leonardo-generate's settings: the DESIGN.md names; `model` is a Leonardo model id (sent as `modelId`). */
export const leonardoGenerateSettingsSchema = submittingSettingsSchema;

export const leonardoAdapter: ProviderAdapter = {
  kind: 'leonardo',
  info: {
    label: 'Leonardo.ai',
    defaultBaseUrl: 'https://cloud.leonardo.ai/api/rest/v1',
    defaultRpm: 100,
    defaultConcurrency: 10,
    needsApiKey: true,
    needsAccountId: false,
    needsBaseUrl: false,
    budgetUnit: 'credits',
  },
  authHeaders: bearerAuth,
  decodeError: decodeLeonardoError,
  checkAccess: ({ client, signal }) => checkLeonardoAccess(client, signal),
  async prepare(request, _options, { client, priced, signal }): Promise<Submission> {
    const body = buildLeonardoGeneration(request);
    const { prompt: _prompt, modelId, ...params } = body;
    return {
      kind: 'job',
      draft: { provider: 'leonardo', model: modelId ?? '', status: 'pending', params: { prompt: body.prompt, ...params } },
      // The calculator is a request too: it is asked only when the config's budget needs a price.
      estimate: priced ? await estimateLeonardoCost(client, body, signal) : undefined,
      send: (target, _callback, spec) => submitLeonardoGeneration(target, body, spec),
    };
  },
  poll: (client, job, signal) => leonardoGenerationSnapshot(client, job.id as string, signal),
  webhook: {
    // Leonardo calls the URL set for the API key, with `authorization: Bearer <webhook callback key>`.
    secretOf: (_query, headers, body) => {
      const key = typeof headers.authorization === 'string' ? BEARER.exec(headers.authorization)?.[1] : undefined;
      const jobId = deliveredJobId(body);
      return key && jobId ? `${key}:${jobId}` : undefined;
    },
    read: readLeonardoWebhook,
    jobSecret: (callbackKey, jobId) => `${callbackKey}:${jobId}`,
  },
  editor: {
    models: [
      { id: 'de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3', label: 'Phoenix 1.0', price: 'priced per request' },
      { id: '6b645e3a-d64f-4341-a6d8-7a3690fbf042', label: 'Phoenix 0.9', price: 'priced per request' },
    ],
    modelsEndpoint: 'image-gen/leonardo/models',
    parameters: { '*': { schema: leonardoGenerationSchema, filledByNode: ['prompt', 'modelId'] } },
  },
};

const platformModelsSchema = z.object({
  custom_models: z.array(
    z.object({ id: z.string(), name: z.string().nullish(), description: z.string().nullish(), featured: z.boolean().nullish() }).passthrough(),
  ),
});

/** `GET /platformModels`: the models the editor offers. */
export async function leonardoPlatformModels(client: HttpClient, signal?: AbortSignal): Promise<Array<{ id: string; name?: string; description?: string }>> {
  const answer = await client.json({ method: 'GET', path: 'platformModels', intent: 'read', signal }, platformModelsSchema);
  return answer.custom_models.map((model) => ({ id: model.id, name: model.name ?? undefined, description: model.description ?? undefined }));
}
