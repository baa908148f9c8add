import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { ASPECT_SIZES } from './images';
import { JobStore, outcomeFromPrompt } from './jobs';
import type { JobPhase, SandboxJob } from './jobs';
import { parseJson, sendJson } from './server';
import type { RouteContext, SandboxMounts, SandboxState } from './server';

/** PixelDojo's documented error body: `{error: {code, message, status}}`. */
function fail(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message, status } });
}

function authorised(req: IncomingMessage, res: ServerResponse, sandbox: SandboxState): boolean {
  if (req.headers.authorization === `Bearer ${sandbox.options.apiKey}`) return true;
  fail(res, 401, 'unauthorized', req.headers.authorization ? 'Invalid API key' : 'Missing API key');
  return false;
}

function jsonBody(context: RouteContext): Record<string, unknown> | undefined {
  const parsed = parseJson(context.raw);
  if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value)) {
    fail(context.res, 400, 'invalid_json', 'Invalid JSON in request body');
    return undefined;
  }
  return parsed.value as Record<string, unknown>;
}

const SYNC_MODELS: Record<string, number> = {
  'flux-pro': 1,
  'flux-1.1-pro': 1,
  'flux-1.1-pro-ultra': 1.5,
  'flux-dev-single-lora': 1,
};
const OUTPUT_FORMATS = ['png', 'jpg', 'webp'];

/** Checks a `/flux` body against the documented parameters; returns the first problem. */
function fluxProblem(body: Record<string, unknown>): string | undefined {
  const { prompt, model = 'flux-pro', raw, aspect_ratio: aspect = '1:1', num_outputs: outputs = 1 } = body;
  if (typeof prompt !== 'string' || prompt.trim() === '') return 'prompt is required';
  if (typeof model !== 'string' || !(model in SYNC_MODELS)) return `unknown model ${String(model)}`;
  if (raw !== undefined && (typeof raw !== 'boolean' || (raw && model !== 'flux-1.1-pro-ultra'))) {
    return 'raw is only supported for flux-1.1-pro-ultra';
  }
  if (typeof aspect !== 'string' || !(aspect in ASPECT_SIZES)) return `unsupported aspect_ratio ${String(aspect)}`;
  if (!Number.isInteger(outputs) || (outputs as number) < 1 || (outputs as number) > 4) return 'num_outputs must be 1-4';
  const quality = body.output_quality;
  if (quality !== undefined && (!Number.isInteger(quality) || (quality as number) < 1 || (quality as number) > 100)) {
    return 'output_quality must be 1-100';
  }
  if (body.output_format !== undefined && !OUTPUT_FORMATS.includes(body.output_format as string)) {
    return 'output_format must be png, jpg or webp';
  }
  if (body.seed !== undefined && !Number.isInteger(body.seed)) return 'seed must be an integer';
  if (body.lora_weights !== undefined && model !== 'flux-dev-single-lora') return 'lora_weights needs flux-dev-single-lora';
  return undefined;
}

interface CatalogueModel {
  apiId: string;
  name: string;
  modality: 'image' | 'video';
  creditCost: number;
  editing?: boolean;
}

export const CATALOGUE: CatalogueModel[] = [
  { apiId: 'flux-dev', name: 'Flux Dev', modality: 'image', creditCost: 1 },
  { apiId: 'flux-1.1-pro', name: 'Flux 1.1 Pro', modality: 'image', creditCost: 1 },
  { apiId: 'flux-1.1-pro-ultra', name: 'Flux 1.1 Pro Ultra', modality: 'image', creditCost: 1.5 },
  { apiId: 'flux-kontext-pro', name: 'Flux Kontext Pro', modality: 'image', creditCost: 1, editing: true },
  { apiId: 'flux-2-klein-4b', name: 'Flux 2 Klein 4B', modality: 'image', creditCost: 0.1, editing: true },
  { apiId: 'z-image-turbo', name: 'Z Image Turbo', modality: 'image', creditCost: 0.5 },
];

export function requestSchema(model: CatalogueModel): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    prompt: { type: 'string', minLength: 1 },
    aspect_ratio: { type: 'string', enum: Object.keys(ASPECT_SIZES), default: '1:1' },
    seed: { type: 'integer' },
    num_outputs: { type: 'integer', minimum: 1, maximum: 4, default: 1 },
    output_format: { type: 'string', enum: ['png', 'jpg'], default: 'png' },
    webhook_url: { type: 'string', format: 'uri' },
  };
  if (model.editing) properties.image_url = { type: 'string', format: 'uri' };
  return { type: 'object', properties, required: ['prompt'], additionalProperties: false };
}

/** The model's published JSON Schema, applied as the real service applies it. */
function schemaProblem(model: CatalogueModel, body: Record<string, unknown>): string | undefined {
  const checked = z.fromJSONSchema(requestSchema(model) as Parameters<typeof z.fromJSONSchema>[0]).safeParse(body);
  if (checked.success) return undefined;
  const issue = checked.error.issues[0];
  return `${issue.path.join('.') || 'body'}: ${issue.message}`;
}

interface AsyncJob {
  model: CatalogueModel;
  body: Record<string, unknown>;
  webhookUrl?: string;
}

/** Emulates PixelDojo: the synchronous `/flux` endpoint and the async jobs API. */
export function pixeldojoEmulator(sandbox: SandboxState, closeHooks: Array<() => void>): SandboxMounts {
  const jobs = new JobStore<AsyncJob>('job_', () => sandbox.options.jobDurationMs);
  closeHooks.push(() => jobs.close());

  const imagesFor = (job: SandboxJob<AsyncJob>): string[] => {
    const { width, height } = ASPECT_SIZES[(job.extra.body.aspect_ratio as string) ?? '1:1'] ?? ASPECT_SIZES['1:1'];
    const count = (job.extra.body.num_outputs as number) ?? 1;
    return Array.from({ length: count }, (_, index) =>
      sandbox.fileUrl({ seed: job.seed + index, width, height, format: job.extra.body.output_format === 'jpg' ? 'jpg' : 'png', tag: job.id }),
    );
  };

  const view = (job: SandboxJob<AsyncJob>, phase: JobPhase = jobs.phase(job)): Record<string, unknown> => {
    const base: Record<string, unknown> = {
      jobId: job.id,
      status: phase,
      model: job.extra.model.apiId,
      statusUrl: `${sandbox.origin}/pixeldojo/api/v1/jobs/${job.id}`,
      creditCost: job.extra.model.creditCost,
      createdAt: new Date(job.createdAt).toISOString(),
    };
    if (phase === 'completed') {
      const urls = imagesFor(job);
      // Editing models answer with `assets[]`, the others with `output.images[]`; clients accept both.
      if (job.extra.model.editing) base.assets = urls.map((url) => ({ url, type: 'image' }));
      else base.output = { images: urls };
      base.expiresAt = new Date(job.createdAt + 24 * 3600_000).toISOString();
    }
    if (phase === 'failed') {
      base.error =
        job.outcome === 'moderate'
          ? { code: 'content_moderated', message: 'The output was blocked by content moderation' }
          : { code: 'generation_failed', message: 'The model failed to generate an image' };
    }
    return base;
  };

  const charge = (res: ServerResponse, cost: number, status: number): boolean => {
    if (sandbox.credits < cost) {
      fail(res, status, 'insufficient_credits', 'Your account has insufficient credits');
      return false;
    }
    sandbox.credits = Math.round((sandbox.credits - cost) * 100) / 100;
    return true;
  };

  const routes: SandboxMounts['routes'] = [
    {
      method: 'POST',
      pattern: /^\/flux$/,
      handle(context) {
        if (!authorised(context.req, context.res, sandbox)) return;
        const body = jsonBody(context);
        if (!body) return;
        const problem = fluxProblem(body);
        if (problem) return fail(context.res, 400, 'validation_error', problem);
        const model = (body.model as string | undefined) ?? 'flux-pro';
        const count = (body.num_outputs as number | undefined) ?? 1;
        const cost = SYNC_MODELS[model] * count;
        if (!charge(context.res, cost, 403)) return;
        const { width, height } = ASPECT_SIZES[(body.aspect_ratio as string | undefined) ?? '1:1'];
        const seed = (body.seed as number | undefined) ?? Math.floor(Math.random() * 2 ** 31);
        const format = body.output_format === 'jpg' ? 'jpg' : 'png';
        const tag = `flux${Date.now().toString(36)}`;
        sendJson(context.res, 200, {
          images: Array.from({ length: count }, (_, index) => sandbox.fileUrl({ seed: seed + index, width, height, format, tag })),
          credits_used: cost,
          credits_remaining: sandbox.credits,
        });
      },
    },
    {
      method: 'GET',
      pattern: /^\/models$/,
      handle({ res }) {
        sendJson(res, 200, { models: CATALOGUE.map(({ apiId, name, modality, creditCost }) => ({ apiId, name, modality, creditCost })) });
      },
    },
    {
      method: 'GET',
      pattern: /^\/models\/([^/]+)$/,
      handle({ res, params }) {
        const model = CATALOGUE.find((entry) => entry.apiId === params[0]);
        if (!model) return fail(res, 404, 'not_found', `Model ${params[0]} not found`);
        const { apiId, name, modality, creditCost } = model;
        sendJson(res, 200, { apiId, name, modality, creditCost, requestSchema: requestSchema(model) });
      },
    },
    {
      method: 'POST',
      pattern: /^\/models\/([^/]+)\/run$/,
      handle(context) {
        if (!authorised(context.req, context.res, sandbox)) return;
        const model = CATALOGUE.find((entry) => entry.apiId === context.params[0]);
        if (!model) return fail(context.res, 404, 'not_found', `Model ${context.params[0]} not found`);
        const body = jsonBody(context);
        if (!body) return;
        const problem = schemaProblem(model, body);
        if (problem) return fail(context.res, 400, 'validation_error', problem);
        const cost = model.creditCost * ((body.num_outputs as number | undefined) ?? 1);
        if (!charge(context.res, cost, 402)) return;
        const job = jobs.create(
          { model, body, webhookUrl: body.webhook_url as string | undefined },
          { seed: body.seed as number | undefined, outcome: outcomeFromPrompt(body.prompt) },
        );
        if (job.extra.webhookUrl) {
          const url = job.extra.webhookUrl;
          jobs.onPhaseChanges(job, (phase) => {
            if (phase !== 'processing') sandbox.deliverWebhook(url, view(job, phase));
          });
        }
        sendJson(context.res, 202, {
          jobId: job.id,
          status: 'pending',
          statusUrl: `${sandbox.origin}/pixeldojo/api/v1/jobs/${job.id}`,
          creditCost: cost,
          creditsRemaining: sandbox.credits,
        });
      },
    },
    {
      method: 'GET',
      pattern: /^\/jobs$/,
      handle({ req, res, url }) {
        if (!authorised(req, res, sandbox)) return;
        const limit = Math.max(1, Math.min(100, Number(url.searchParams.get('limit') ?? 20) || 20));
        sendJson(res, 200, {
          jobs: jobs
            .list()
            .slice(-limit)
            .reverse()
            .map((job) => view(job)),
        });
      },
    },
    {
      method: 'GET',
      pattern: /^\/jobs\/([^/]+)$/,
      handle({ req, res, params }) {
        if (!authorised(req, res, sandbox)) return;
        const job = jobs.get(params[0]);
        if (!job) return fail(res, 404, 'not_found', `Job ${params[0]} not found`);
        if (jobs.phase(job) === 'expired') return fail(res, 410, 'expired', `Job ${job.id} has expired`);
        sendJson(res, 200, view(job));
      },
    },
    {
      method: 'POST',
      pattern: /^\/jobs\/([^/]+)\/webhook$/,
      handle({ req, res, params }) {
        if (!authorised(req, res, sandbox)) return;
        const job = jobs.get(params[0]);
        if (!job) return fail(res, 404, 'not_found', `Job ${params[0]} not found`);
        if (!job.extra.webhookUrl) return fail(res, 400, 'validation_error', 'Job has no webhook_url');
        sandbox.deliverWebhook(job.extra.webhookUrl, view(job));
        sendJson(res, 200, { replayed: true });
      },
    },
  ];
  return { prefix: '/pixeldojo/api/v1', api: 'pixeldojo', routes, jobs };
}
