import type { IncomingMessage, ServerResponse } from 'node:http';
import { JobStore, outcomeFromPrompt } from './jobs';
import type { JobPhase, SandboxJob } from './jobs';
import { parseJson, sendJson } from './server';
import type { SandboxMounts, SandboxState } from './server';

/** PiAPI's documented error body: `{code, data: {error: {code, message, detail}}, message: "failed"}`. */
function fail(res: ServerResponse, status: number, code: number, message: string, detail?: string): void {
  sendJson(res, status, { code: status, data: { error: { code, message, detail: detail ?? message } }, message: 'failed' });
}

function authorised(req: IncomingMessage, res: ServerResponse, sandbox: SandboxState): boolean {
  if (req.headers['x-api-key'] === sandbox.options.apiKey) return true;
  fail(res, 401, 1200, 'Authentication failed', 'Verify API key is correct');
  return false;
}

const BASIC_TYPES = ['txt2img', 'img2img'];
const ADVANCED_TYPES = ['txt2img-lora', 'img2img-lora', 'controlnet-lora', 'fill-inpaint', 'fill-outpaint', 'redux-variation', 'kontext'];
const TASK_TYPES: Record<string, string[]> = {
  'Qubico/flux1-schnell': BASIC_TYPES,
  'Qubico/flux1-dev': BASIC_TYPES,
  'Qubico/flux1-dev-advanced': ADVANCED_TYPES,
};
/** Inputs each task type cannot run without. */
const REQUIRED_INPUTS: Record<string, string[]> = {
  txt2img: ['prompt'],
  img2img: ['prompt', 'image'],
  'txt2img-lora': ['prompt', 'lora_settings'],
  'img2img-lora': ['prompt', 'image', 'lora_settings'],
  'controlnet-lora': ['prompt', 'control_net_settings'],
  'fill-inpaint': ['prompt', 'image', 'mask'],
  'fill-outpaint': ['image', 'custom_settings'],
  'redux-variation': ['image'],
  kontext: ['prompt', 'image'],
};
const IMAGE_INPUTS = ['image', 'mask'];
/** PiAPI's documented pay-as-you-go price per image, used for `meta.usage`. */
const PRICE_USD: Record<string, number> = {
  'Qubico/flux1-schnell': 0.002,
  'Qubico/flux1-dev': 0.015,
  'Qubico/flux1-dev-advanced': 0.02,
};
const MAX_PIXELS = 1048576;

type Input = Record<string, unknown>;

interface Task {
  model: string;
  taskType: string;
  input: Input;
  webhook?: { endpoint: string; secret?: string };
  serviceMode: string;
  titleCase: boolean;
}

/** The first documented rule the body breaks, as [HTTP status, PiAPI code, message]. */
function taskProblem(body: Record<string, unknown>): [number, number, string] | undefined {
  const { model, task_type: taskType, input } = body;
  if (typeof model !== 'string' || !(model in TASK_TYPES)) return [400, 10000, `unsupported model ${String(model)}`];
  if (typeof taskType !== 'string' || !TASK_TYPES[model].includes(taskType)) {
    return [400, 10000, `task_type ${String(taskType)} is not available for ${model}`];
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return [400, 10000, 'input is required'];
  const fields = input as Input;
  for (const name of REQUIRED_INPUTS[taskType]) {
    if (fields[name] === undefined || fields[name] === '') return [400, name === 'prompt' ? 1100 : 10000, `input.${name} is required`];
  }
  const prompt = fields.prompt;
  if (prompt !== undefined && (typeof prompt !== 'string' || prompt.length < 1 || prompt.length > 1500)) {
    return [400, 1100, 'Invalid prompt length'];
  }
  for (const name of IMAGE_INPUTS) {
    const value = fields[name];
    if (value !== undefined && (typeof value !== 'string' || !/^https?:\/\/\S+$/.test(value))) return [400, 1600, `Invalid image URL in ${name}`];
  }
  const width = (fields.width as number | undefined) ?? 1024;
  const height = (fields.height as number | undefined) ?? 1024;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width * height > MAX_PIXELS) {
    return [400, 1700, 'Invalid image dimensions'];
  }
  const batch = fields.batch_size;
  if (batch !== undefined && (!Number.isInteger(batch) || (batch as number) < 1 || (batch as number) > 4)) return [400, 10000, 'batch_size must be 1-4'];
  if (batch !== undefined && batch !== 1 && model !== 'Qubico/flux1-schnell') return [400, 10000, 'batch_size is only supported by Qubico/flux1-schnell'];
  const guidance = fields.guidance_scale;
  if (guidance !== undefined && (typeof guidance !== 'number' || guidance < 1.5 || guidance > 5)) return [400, 10000, 'guidance_scale must be 1.5-5'];
  const denoise = fields.denoise;
  if (denoise !== undefined && (typeof denoise !== 'number' || denoise <= 0 || denoise > 1)) return [400, 10000, 'denoise must be in (0, 1]'];
  return undefined;
}

const TITLE: Record<JobPhase, string> = {
  pending: 'Pending',
  processing: 'Processing',
  completed: 'Completed',
  failed: 'Failed',
  expired: 'Failed',
};

/** Emulates PiAPI's unified task API for the Flux models. */
export function piapiEmulator(sandbox: SandboxState, closeHooks: Array<() => void>): SandboxMounts {
  const jobs = new JobStore<Task>('', () => sandbox.options.jobDurationMs);
  closeHooks.push(() => jobs.close());

  const view = (job: SandboxJob<Task>, phase: JobPhase = jobs.phase(job)): Record<string, unknown> => {
    const { input, model, taskType } = job.extra;
    const width = (input.width as number | undefined) ?? 1024;
    const height = (input.height as number | undefined) ?? 1024;
    const count = (input.batch_size as number | undefined) ?? 1;
    // PiAPI sends status in either case; odd-numbered sandbox tasks use Title case to keep clients honest.
    const status = job.extra.titleCase ? TITLE[phase] : phase === 'expired' ? 'failed' : phase;
    let output: Record<string, unknown> | null = null;
    if (phase === 'completed') {
      const urls = Array.from({ length: count }, (_, index) => sandbox.fileUrl({ seed: job.seed + index, width, height, format: 'png', tag: job.id }));
      output = count > 1 ? { image_urls: urls, width, height, seed: job.seed } : { image_url: urls[0], width, height, seed: job.seed };
    }
    const ended = phase === 'completed' || phase === 'failed' || phase === 'expired';
    return {
      task_id: job.id,
      model,
      task_type: taskType,
      status,
      input,
      output,
      meta: {
        created_at: new Date(job.createdAt).toISOString(),
        ...(phase !== 'pending' ? { started_at: new Date(job.createdAt + job.durationMs / 4).toISOString() } : {}),
        ...(ended ? { ended_at: new Date(job.createdAt + job.durationMs).toISOString() } : {}),
        usage: { type: 'point', consume: Math.round(PRICE_USD[model] * count * 1e6) },
      },
      config: { service_mode: job.extra.serviceMode, webhook_config: job.extra.webhook ?? { endpoint: '', secret: '' } },
      error:
        phase === 'failed'
          ? job.outcome === 'moderate'
            ? { code: 10000, raw_message: 'content moderation', message: 'the prompt or output was blocked by content moderation' }
            : { code: 1500, raw_message: 'model failure', message: 'Service temporarily unavailable' }
          : phase === 'expired'
            ? { code: 10000, raw_message: 'timeout', message: 'task expired before it finished' }
            : { code: 0, raw_message: '', message: '' },
    };
  };

  const routes: SandboxMounts['routes'] = [
    {
      method: 'POST',
      pattern: /^\/task$/,
      handle({ req, res, raw }) {
        if (!authorised(req, res, sandbox)) return;
        const parsed = parseJson(raw);
        if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null) return fail(res, 400, 10000, 'invalid request body');
        const body = parsed.value as Record<string, unknown>;
        const problem = taskProblem(body);
        if (problem) return fail(res, ...problem);
        const config = (body.config ?? {}) as { service_mode?: string; webhook_config?: { endpoint?: string; secret?: string } };
        const endpoint = config.webhook_config?.endpoint;
        const input = body.input as Input;
        const job = jobs.create(
          {
            model: body.model as string,
            taskType: body.task_type as string,
            input,
            webhook: endpoint ? { endpoint, secret: config.webhook_config?.secret } : undefined,
            serviceMode: config.service_mode ?? 'public',
            titleCase: jobs.size % 2 === 0,
          },
          { seed: input.seed as number | undefined, outcome: outcomeFromPrompt(input.prompt) },
        );
        const webhook = job.extra.webhook;
        if (webhook) {
          jobs.onPhaseChanges(job, (phase) =>
            sandbox.deliverWebhook(
              webhook.endpoint,
              { timestamp: Math.floor(Date.now() / 1000), data: view(job, phase) },
              webhook.secret ? { 'x-webhook-secret': webhook.secret } : {},
            ),
          );
        }
        sendJson(res, 200, { code: 200, data: view(job), message: 'success' });
      },
    },
    {
      method: 'GET',
      pattern: /^\/task\/([^/]+)$/,
      handle({ req, res, params }) {
        if (!authorised(req, res, sandbox)) return;
        const job = jobs.get(params[0]);
        if (!job) return fail(res, 404, 10000, 'task not found');
        sendJson(res, 200, { code: 200, data: view(job), message: 'success' });
      },
    },
  ];
  return { prefix: '/piapi/api/v1', api: 'piapi', routes, jobs };
}
