import type { IncomingMessage, ServerResponse } from 'node:http';
import { JobStore, outcomeFromPrompt } from './jobs';
import type { JobPhase, SandboxJob } from './jobs';
import { parseJson, sendJson } from './server';
import type { SandboxMounts, SandboxState } from './server';

/** Leonardo's error body: `{error, path, code}`. */
function fail(res: ServerResponse, status: number, code: string, error: string): void {
  sendJson(res, status, { error, path: '$', code });
}

function authorised(req: IncomingMessage, res: ServerResponse, sandbox: SandboxState): boolean {
  if (req.headers.authorization === `Bearer ${sandbox.options.apiKey}`) return true;
  fail(res, 401, 'invalid-jwt', 'Invalid authentication credentials');
  return false;
}

/** Platform models the emulator lists; the first two are the ids `visioncraft-pro-api.md` gives for Phoenix. */
const PLATFORM_MODELS = [
  { id: 'de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3', name: 'Phoenix 1.0', description: 'Universal model for all types of images', featured: true },
  { id: '6b645e3a-d64f-4341-a6d8-7a3690fbf042', name: 'Phoenix 0.9', description: 'Previous version of Phoenix model', featured: false },
  { id: 'b24e16ff-06e3-43eb-8d33-4416c2d75876', name: 'Leonardo Lightning XL', description: 'High-speed generalist model', featured: true },
];
/** Leonardo's documented `presetStyle` values. */
const PRESET_STYLES = new Set(
  'ANIME BOKEH CINEMATIC CINEMATIC_CLOSEUP CREATIVE DYNAMIC ENVIRONMENT FASHION FILM FOOD GENERAL HDR ILLUSTRATION LEONARDO LONG_EXPOSURE MACRO MINIMALISTIC MONOCHROME MOODY NONE NEUTRAL PHOTOGRAPHY PORTRAIT RAYTRACED RENDER_3D RETRO SKETCH_BW SKETCH_COLOR STOCK_PHOTO VIBRANT UNPROCESSED'.split(
    ' ',
  ),
);

type Body = Record<string, unknown>;
const isInteger = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value);

/** The first documented rule a `POST /generations` body breaks. */
function generationProblem(body: Body): string | undefined {
  if (typeof body.prompt !== 'string' || body.prompt.length === 0) return 'prompt is required';
  if (body.prompt.length > 1500) return 'prompt must be at most 1500 characters';
  if (body.modelId !== undefined && !PLATFORM_MODELS.some((model) => model.id === body.modelId)) return `model ${String(body.modelId)} not found`;
  for (const side of ['width', 'height']) {
    const value = body[side];
    if (value !== undefined && (!isInteger(value) || value < 32 || value > 1536 || value % 8 !== 0)) return `${side} must be a multiple of 8 from 32 to 1536`;
  }
  const images = body.num_images ?? 4;
  if (!isInteger(images) || images < 1 || images > 8) return 'num_images must be 1-8';
  if ((((body.width as number) ?? 0) > 768 || ((body.height as number) ?? 0) > 768) && images > 4) return 'num_images must be 1-4 above 768 pixels';
  if (body.ultra === true && body.alchemy === true) return 'ultra cannot be used with alchemy';
  if (body.presetStyle !== undefined && !PRESET_STYLES.has(String(body.presetStyle))) return `unknown presetStyle ${String(body.presetStyle)}`;
  const guidance = body.guidance_scale;
  if (guidance !== undefined && (typeof guidance !== 'number' || guidance < 1 || guidance > 20)) return 'guidance_scale must be 1-20';
  const steps = body.num_inference_steps;
  if (steps !== undefined && (!isInteger(steps) || steps < 10 || steps > 60)) return 'num_inference_steps must be 10-60';
  const strength = body.init_strength;
  if (strength !== undefined && (typeof strength !== 'number' || strength < 0.1 || strength > 0.9)) return 'init_strength must be 0.1-0.9';
  return undefined;
}

/** The emulator's own price list, in API credits: per megapixel and step, and three times that with alchemy. */
function priceOf(width: number, height: number, images: number, steps: number, alchemy: boolean): number {
  return Math.ceil(images * ((width * height) / (1024 * 1024)) * (steps / 15) * (alchemy ? 3 : 1) * 4);
}

interface Generation {
  body: Body;
  width: number;
  height: number;
  images: number;
  nsfw: boolean;
}

const STATUS: Record<JobPhase, string> = { pending: 'PENDING', processing: 'PENDING', completed: 'COMPLETE', failed: 'FAILED', expired: 'FAILED' };

/**
 * Emulates Leonardo.ai's REST API v1 (`/me`, `/platformModels`, `/pricing-calculator`,
 * `/generations`), with the webhook it calls per account (set with SandboxServer.setCallback).
 * A `[sandbox:moderate]` prompt is refused by the content filter at submit; `[sandbox:nsfw]` flags
 * the images; an expired generation is gone (`generations_by_pk: null`).
 */
export function leonardoEmulator(sandbox: SandboxState, closeHooks: Array<() => void>): SandboxMounts {
  const jobs = new JobStore<Generation>('', () => sandbox.options.jobDurationMs);
  closeHooks.push(() => jobs.close());
  let balance = sandbox.options.credits;

  const view = (job: SandboxJob<Generation>, phase: JobPhase = jobs.phase(job)): Record<string, unknown> => {
    const { body, width, height, images, nsfw } = job.extra;
    return {
      id: job.id,
      createdAt: new Date(job.createdAt).toISOString(),
      modelId: body.modelId ?? null,
      prompt: body.prompt,
      negativePrompt: body.negative_prompt ?? '',
      imageWidth: width,
      imageHeight: height,
      inferenceSteps: body.num_inference_steps ?? 15,
      seed: job.seed,
      presetStyle: body.presetStyle ?? null,
      public: body.public ?? false,
      status: STATUS[phase],
      generated_images:
        phase === 'completed'
          ? Array.from({ length: images }, (_, index) => ({
              id: `${job.id}-${index}`,
              url: sandbox.fileUrl({ seed: job.seed + index, width, height, format: 'jpg', tag: job.id }),
              nsfw,
              likeCount: 0,
            }))
          : [],
    };
  };

  const routes: SandboxMounts['routes'] = [
    {
      method: 'GET',
      pattern: /^\/me$/,
      handle({ req, res }) {
        if (!authorised(req, res, sandbox)) return;
        sendJson(res, 200, { user_details: [{ user: { id: 'sandbox-user', username: 'sandbox' }, apiCredit: balance, apiConcurrencySlots: 10 }] });
      },
    },
    {
      method: 'GET',
      pattern: /^\/platformModels$/,
      handle({ req, res }) {
        if (!authorised(req, res, sandbox)) return;
        sendJson(res, 200, { custom_models: PLATFORM_MODELS.map((model) => ({ ...model, nsfw: false, modelWidth: 1024, modelHeight: 1024 })) });
      },
    },
    {
      method: 'POST',
      pattern: /^\/pricing-calculator$/,
      handle({ req, res, raw }) {
        if (!authorised(req, res, sandbox)) return;
        const parsed = parseJson(raw);
        const params = parsed.ok ? (parsed.value as { service?: unknown; serviceParams?: { IMAGE_GENERATION?: Body } }) : undefined;
        const generation = params?.service === 'IMAGE_GENERATION' ? params.serviceParams?.IMAGE_GENERATION : undefined;
        if (!generation) return fail(res, 400, 'validation-failed', 'service IMAGE_GENERATION with serviceParams.IMAGE_GENERATION is required');
        const { imageWidth, imageHeight, numImages, inferenceSteps, alchemyMode } = generation;
        if (![imageWidth, imageHeight, numImages, inferenceSteps].every(isInteger))
          return fail(res, 400, 'validation-failed', 'imageWidth, imageHeight, numImages and inferenceSteps are integers');
        const cost = priceOf(imageWidth as number, imageHeight as number, numImages as number, inferenceSteps as number, alchemyMode === true);
        sendJson(res, 200, { calculateProductionApiServiceCost: { cost } });
      },
    },
    {
      method: 'POST',
      pattern: /^\/generations$/,
      handle({ req, res, raw }) {
        if (!authorised(req, res, sandbox)) return;
        const parsed = parseJson(raw);
        if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null) return fail(res, 400, 'parse-failed', 'invalid JSON body');
        const body = parsed.value as Body;
        const problem = generationProblem(body);
        if (problem) return fail(res, 400, 'validation-failed', problem);
        const outcome = outcomeFromPrompt(body.prompt);
        if (outcome === 'moderate') return fail(res, 400, 'content-moderation', 'Your prompt was flagged by the content moderation filter');
        const width = (body.width as number | undefined) ?? 1024;
        const height = (body.height as number | undefined) ?? 768;
        const images = (body.num_images as number | undefined) ?? 4;
        const cost = priceOf(width, height, images, (body.num_inference_steps as number | undefined) ?? 15, body.alchemy === true);
        if (cost > balance) return fail(res, 402, 'insufficient-credits', `Not enough API credits: this generation costs ${cost}, the balance is ${balance}`);
        balance -= cost;
        const nsfw = /\[sandbox:nsfw\]/i.test(String(body.prompt));
        const job = jobs.create({ body, width, height, images, nsfw }, { seed: body.seed as number | undefined, outcome });
        const callback = sandbox.callbackOf('leonardo');
        if (callback) {
          jobs.onPhaseChanges(job, (phase) => {
            if (phase !== 'completed' && phase !== 'failed') return;
            sandbox.deliverWebhook(
              callback.url,
              {
                type: 'image_generation.complete',
                object: 'generation',
                timestamp: Date.now(),
                api_version: 'v1',
                data: { object: { ...view(job, phase), images: view(job, phase).generated_images } },
              },
              callback.key ? { authorization: `Bearer ${callback.key}` } : {},
            );
          });
        }
        sendJson(res, 200, { sdGenerationJob: { generationId: job.id, apiCreditCost: cost, cost: { amount: cost, unit: 'CREDITS' } } });
      },
    },
    {
      method: 'GET',
      pattern: /^\/generations\/([^/]+)$/,
      handle({ req, res, params }) {
        if (!authorised(req, res, sandbox)) return;
        const job = jobs.get(params[0]);
        // Leonardo answers null for a generation it does not have (never made, or deleted).
        if (!job || jobs.phase(job) === 'expired') return sendJson(res, 200, { generations_by_pk: null });
        sendJson(res, 200, { generations_by_pk: view(job) });
      },
    },
  ];
  return { prefix: '/leonardo/api/rest/v1', api: 'leonardo', routes, jobs };
}
