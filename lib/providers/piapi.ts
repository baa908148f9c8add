import { z } from 'zod';
import { InvalidRequestError, describeIssues } from '../contract';
import type { JobInfo, JobSnapshot, ResolvedRequest } from '../contract';
import { ProviderError } from '../http';
import type { DecodedError, HttpClient, RequestSpec } from '../http';
import { submittingSettingsSchema } from '../jobs/settings';
import type { ProviderAdapter, Submission } from './adapter';
import type { CostEstimate } from './budget';
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

// ---- Tasks ------------------------------------------------------------------------------------

export const PIAPI_MODELS = ['Qubico/flux1-schnell', 'Qubico/flux1-dev', 'Qubico/flux1-dev-advanced'] as const;
export type PiapiModel = (typeof PIAPI_MODELS)[number];
const BASIC_TASK_TYPES = ['txt2img', 'img2img'] as const;
const ADVANCED_TASK_TYPES = ['txt2img-lora', 'img2img-lora', 'controlnet-lora', 'fill-inpaint', 'fill-outpaint', 'redux-variation', 'kontext'] as const;
export const PIAPI_TASK_TYPES = [...BASIC_TASK_TYPES, ...ADVANCED_TASK_TYPES] as const;
export type PiapiTaskType = (typeof PIAPI_TASK_TYPES)[number];
/** `config.service_mode`: PiAPI's pay-as-you-go pool, or the user's own hosted accounts. */
export const PIAPI_SERVICE_MODES = ['public', 'private'] as const;

/** PiAPI's pay-as-you-go price per image (USD), from its pricing table. */
export const PIAPI_PRICE_USD: Record<PiapiModel, number> = {
  'Qubico/flux1-schnell': 0.002,
  'Qubico/flux1-dev': 0.015,
  'Qubico/flux1-dev-advanced': 0.02,
};
const MAX_PIXELS = 1_048_576;

/** Written without regex flags: the editor reads the pattern as JSON Schema, which carries none. */
const imageUrl = z.string().regex(/^[Hh][Tt][Tt][Pp][Ss]?:\/\/\S+$/, 'must be an http(s) image URL');
const loraSettings = z.array(z.object({ path: z.string().min(1), scale: z.number().min(0).max(2).optional() }).strict()).min(1);
const controlNetSettings = z
  .array(
    z
      .object({
        path: z.string().min(1),
        control_image_url: imageUrl.optional(),
        control_image: imageUrl.optional(),
        conditioning_scale: z.number().min(0).max(2).optional(),
      })
      .strict(),
  )
  .min(1);
const outpaintSettings = z
  .array(
    z
      .object({
        setting_type: z.literal('outpaint'),
        outpaint_left: z.number().int().min(0).optional(),
        outpaint_right: z.number().int().min(0).optional(),
        outpaint_top: z.number().int().min(0).optional(),
        outpaint_bottom: z.number().int().min(0).optional(),
      })
      .strict(),
  )
  .min(1);

/** Inputs shared by all task types, with PiAPI's documented limits. */
const commonInput = {
  prompt: z.string().min(1, 'the prompt is empty').max(1500, 'the prompt is longer than 1500 characters'),
  negative_prompt: z.string().max(1500).optional(),
  width: z.number().int().min(64).max(2048).optional(),
  height: z.number().int().min(64).max(2048).optional(),
  guidance_scale: z.number().min(1.5).max(5).optional(),
  denoise: z.number().gt(0).max(1).optional(),
  seed: z.number().int().min(-1).max(2_147_483_647).optional(),
  batch_size: z.number().int().min(1).max(4).optional(),
};

/** Task types that can run on their input image alone. */
const PROMPT_OPTIONAL: readonly PiapiTaskType[] = ['fill-outpaint', 'redux-variation'];

/** What each task type needs beyond the common inputs. */
const TASK_INPUTS: Record<PiapiTaskType, z.ZodObject> = {
  txt2img: z.object(commonInput).strict(),
  img2img: z.object({ ...commonInput, image: imageUrl }).strict(),
  'txt2img-lora': z.object({ ...commonInput, lora_settings: loraSettings }).strict(),
  'img2img-lora': z.object({ ...commonInput, image: imageUrl, lora_settings: loraSettings }).strict(),
  'controlnet-lora': z.object({ ...commonInput, control_net_settings: controlNetSettings, lora_settings: loraSettings.optional() }).strict(),
  'fill-inpaint': z.object({ ...commonInput, image: imageUrl, mask: imageUrl }).strict(),
  'fill-outpaint': z.object({ ...commonInput, prompt: commonInput.prompt.optional(), image: imageUrl, custom_settings: outpaintSettings }).strict(),
  'redux-variation': z
    .object({ ...commonInput, prompt: commonInput.prompt.optional(), image: imageUrl, variation_strength: z.number().min(0).max(1).optional() })
    .strict(),
  kontext: z.object({ ...commonInput, image: imageUrl }).strict(),
};

export interface PiapiTaskOptions {
  taskType: string;
  serviceMode?: (typeof PIAPI_SERVICE_MODES)[number];
}

export interface PiapiTaskBody {
  model: PiapiModel;
  task_type: PiapiTaskType;
  input: Record<string, unknown>;
  config?: { service_mode?: string; webhook_config?: { endpoint: string; secret: string } };
}

/** Builds and checks a task against PiAPI's documented rules before anything is sent. */
export function buildPiapiTask(request: ResolvedRequest, options: PiapiTaskOptions): PiapiTaskBody {
  const model = (request.model || 'Qubico/flux1-schnell') as PiapiModel;
  if (!PIAPI_MODELS.includes(model)) throw new InvalidRequestError(`PiAPI has no Flux model "${model}"; use one of ${PIAPI_MODELS.join(', ')}`);
  const taskType = options.taskType as PiapiTaskType;
  if (!PIAPI_TASK_TYPES.includes(taskType)) {
    throw new InvalidRequestError(`unknown PiAPI task type "${options.taskType}"; use one of ${PIAPI_TASK_TYPES.join(', ')}`);
  }
  const advanced = (ADVANCED_TASK_TYPES as readonly string[]).includes(taskType);
  if (advanced !== (model === 'Qubico/flux1-dev-advanced')) {
    throw new InvalidRequestError(
      advanced ? `task type ${taskType} needs the Qubico/flux1-dev-advanced model` : `task type ${taskType} runs on Qubico/flux1-schnell or Qubico/flux1-dev`,
    );
  }
  const promptOptional = PROMPT_OPTIONAL.includes(taskType);
  const input = { ...request.params, ...(request.prompt || !promptOptional ? { prompt: request.prompt } : {}) };
  const parsed = TASK_INPUTS[taskType].safeParse(input);
  if (!parsed.success) throw new InvalidRequestError(`PiAPI ${taskType}: ${describeIssues(parsed.error, 'input.')}`);
  const checked = parsed.data as Record<string, unknown>;
  const width = (checked.width as number | undefined) ?? 1024;
  const height = (checked.height as number | undefined) ?? 1024;
  if (width * height > MAX_PIXELS) throw new InvalidRequestError(`PiAPI ${taskType}: width x height is ${width * height}, more than ${MAX_PIXELS} pixels`);
  if (checked.batch_size !== undefined && checked.batch_size !== 1 && model !== 'Qubico/flux1-schnell') {
    throw new InvalidRequestError(`PiAPI ${taskType}: batch_size above 1 is only available on Qubico/flux1-schnell`);
  }
  const config: PiapiTaskBody['config'] = {};
  if (options.serviceMode) config.service_mode = options.serviceMode;
  return { model, task_type: taskType, input: checked, ...(Object.keys(config).length > 0 ? { config } : {}) };
}

const taskSchema = z
  .object({
    task_id: z.string(),
    model: z.string().optional(),
    task_type: z.string().optional(),
    status: z.string(),
    output: z
      .object({
        image_url: z.string().nullish(),
        image_urls: z.array(z.string()).nullish(),
        width: z.number().optional(),
        height: z.number().optional(),
        seed: z.number().optional(),
      })
      .passthrough()
      .nullish(),
    error: z.object({ code: z.number().optional(), message: z.string().optional(), raw_message: z.string().optional() }).passthrough().nullish(),
  })
  .passthrough();

const taskEnvelopeSchema = z.object({ code: z.number(), message: z.string().optional(), data: taskSchema });

/** PiAPI can answer HTTP 200 with a failure `code`: both are checked. */
async function taskCall(client: HttpClient, spec: Parameters<HttpClient['send']>[0]): Promise<z.infer<typeof taskSchema>> {
  const response = await client.send(spec);
  const envelope = client.parse(response, z.object({ code: z.number() }).passthrough(), spec);
  if (envelope.code !== 200) {
    const decoded = decodePiapiError(response.status, response.body.toString('utf8'));
    throw client.error(`PiAPI answered code ${envelope.code}${decoded?.message ? `: ${decoded.message}` : ''}`, spec, {
      kind: 'http',
      status: response.status,
      code: decoded?.code,
      retryable: false,
      mayHaveBeenAccepted: spec.intent === 'submit',
    });
  }
  return client.parse(response, taskEnvelopeSchema, spec).data;
}

/** US dollars a task will cost: the documented price per image times the batch size. */
export function estimatePiapiCost(body: PiapiTaskBody): CostEstimate {
  const images = (body.input.batch_size as number | undefined) ?? 1;
  return { unit: 'usd', amount: Math.round(PIAPI_PRICE_USD[body.model] * images * 1e6) / 1e6 };
}

export async function submitPiapiTask(
  client: HttpClient,
  body: PiapiTaskBody,
  request: Pick<RequestSpec, 'signal' | 'beforeSend' | 'onWait'> = {},
): Promise<JobInfo> {
  const task = await taskCall(client, { method: 'POST', path: 'task', json: body, intent: 'submit', ...request });
  return {
    provider: 'piapi',
    model: body.model,
    id: task.task_id,
    status: 'pending',
    submittedAt: new Date().toISOString(),
    cost: { usd: estimatePiapiCost(body).amount },
    params: { task_type: body.task_type, ...body.input },
  };
}

const PIAPI_STATUS: Record<string, JobSnapshot['status']> = {
  pending: 'pending',
  staged: 'pending',
  processing: 'processing',
  completed: 'completed',
  failed: 'failed',
};

/** PiAPI keeps outputs for 3 days. */
const OUTPUT_LIFETIME_MS = 3 * 24 * 3600_000;

/** A task object, normalised: statuses compared case-insensitively, `staged` counted as queued; undefined for an unknown status. */
function snapshotOfTask(task: z.infer<typeof taskSchema>): JobSnapshot | undefined {
  const status = PIAPI_STATUS[task.status.toLowerCase()];
  if (!status) return undefined;
  const output = task.output;
  const urls = [...(output?.image_urls ?? []), ...(output?.image_url ? [output.image_url] : [])];
  const expiresAt = new Date(Date.now() + OUTPUT_LIFETIME_MS).toISOString();
  const error = task.error;
  const code = error?.code ? PIAPI_ERROR_ADVICE[error.code] : undefined;
  return {
    status,
    images: urls.map((url, index) => ({
      url,
      width: output?.width,
      height: output?.height,
      seed: output?.seed === undefined ? undefined : output.seed + index,
      expiresAt,
    })),
    reason: [error?.message || error?.raw_message, code].filter(Boolean).join(' - ') || undefined,
    expiresAt,
  };
}

/** `GET /task/{id}`, normalised. */
export async function piapiTaskSnapshot(client: HttpClient, taskId: string, signal?: AbortSignal): Promise<JobSnapshot> {
  const task = await taskCall(client, { method: 'GET', path: `task/${encodeURIComponent(taskId)}`, intent: 'read', signal, jobId: taskId });
  const snapshot = snapshotOfTask(task);
  if (!snapshot) throw client.error(`PiAPI reported an unknown task status "${task.status}"`, { jobId: taskId }, { kind: 'malformed', retryable: false });
  return snapshot;
}

const webhookSchema = z.object({ timestamp: z.number().optional(), data: taskSchema });

/** A PiAPI webhook body, `{timestamp, data:<task>}`; undefined when it is not one. */
export function readPiapiWebhook(body: unknown): { jobId: string; snapshot: JobSnapshot } | undefined {
  const parsed = webhookSchema.safeParse(body);
  const snapshot = parsed.success ? snapshotOfTask(parsed.data.data) : undefined;
  return parsed.success && snapshot ? { jobId: parsed.data.data.task_id, snapshot } : undefined;
}

// ---- Adapter ----------------------------------------------------------------------------------

/** Header in which PiAPI sends the secret given at submit, verbatim. */
export const PIAPI_SECRET_HEADER = 'x-webhook-secret';

/** piapi-task's settings; an empty service mode is the account's default. */
export const piapiTaskSettingsSchema = submittingSettingsSchema.extend({
  taskType: z.enum(PIAPI_TASK_TYPES).optional(),
  serviceMode: z.union([z.literal(''), z.enum(PIAPI_SERVICE_MODES)]).optional(),
});

export const piapiAdapter: ProviderAdapter<PiapiTaskOptions> = {
  kind: 'piapi',
  info: {
    label: 'PiAPI',
    defaultBaseUrl: 'https://api.piapi.ai/api/v1',
    defaultRpm: 60,
    defaultConcurrency: 2,
    needsApiKey: true,
    needsAccountId: false,
    needsBaseUrl: false,
    budgetUnit: 'usd',
  },
  authHeaders: (apiKey): Record<string, string> => (apiKey ? { 'x-api-key': apiKey } : {}),
  decodeError: decodePiapiError,
  checkAccess: ({ client, signal }) => checkPiapiAccess(client, signal),
  prepare(request, options): Submission {
    const body = buildPiapiTask(request, options);
    return {
      kind: 'job',
      draft: { provider: 'piapi', model: body.model, status: 'pending', params: { task_type: body.task_type, ...body.input } },
      estimate: estimatePiapiCost(body),
      send: (client, callback, spec) => {
        const config = callback ? { ...body.config, webhook_config: { endpoint: callback.url, secret: callback.secret } } : body.config;
        return submitPiapiTask(client, { ...body, ...(config ? { config } : {}) }, spec);
      },
    };
  },
  poll: (client, job, signal) => piapiTaskSnapshot(client, job.id as string, signal),
  webhook: {
    secretOf: (_query, headers) =>
      typeof headers[PIAPI_SECRET_HEADER] === 'string' && headers[PIAPI_SECRET_HEADER] ? headers[PIAPI_SECRET_HEADER] : undefined,
    read: readPiapiWebhook,
  },
  editor: {
    models: PIAPI_MODELS.map((id) => ({
      id,
      // Every model is Qubico's: the name alone keeps the choice readable in the dialog's select.
      label: id.replace(/^Qubico\//, ''),
      price: `$${PIAPI_PRICE_USD[id]}`,
      taskTypes: id === 'Qubico/flux1-dev-advanced' ? ADVANCED_TASK_TYPES : BASIC_TASK_TYPES,
    })),
    parameters: Object.fromEntries(PIAPI_TASK_TYPES.map((taskType) => [taskType, { schema: TASK_INPUTS[taskType] }])),
  },
};
