import { z } from 'zod';
import { InvalidRequestError, describeIssues } from '../contract';
import type { Generation, ResolvedRequest } from '../contract';
import type { DecodedError, HttpClient } from '../http';
import { detectImageType, imageSize } from '../storage/image-type';
import type { ProviderAdapter, Submission } from './adapter';
import { decodeWith } from './errors';

/** `visioncraft-pro-api.md`'s error body: `{error: {code, message, ...details}}`. */
const errorBodySchema = z.object({
  error: z
    .object({
      code: z.string(),
      message: z.string(),
      available_models: z.array(z.string()).optional(),
      vram_available: z.number().optional(),
      vram_required: z.number().optional(),
    })
    .passthrough(),
});

export function decodeVisioncraftError(_status: number, body: string): DecodedError | undefined {
  return decodeWith(errorBodySchema, body, ({ error }) => {
    const details = [
      error.available_models ? `available: ${error.available_models.join(', ')}` : undefined,
      error.vram_required !== undefined ? `needs ${error.vram_required} GB of VRAM, ${error.vram_available ?? '?'} GB free` : undefined,
    ].filter(Boolean);
    return { code: error.code, message: details.length > 0 ? `${error.message} (${details.join('; ')})` : error.message };
  });
}

const statusSchema = z
  .object({ device: z.string(), device_name: z.string().optional(), model_loaded: z.boolean().optional(), current_model: z.string().nullish() })
  .passthrough();

/** `GET /status` costs nothing: it proves the server answers and says what it runs on. */
export async function checkVisioncraftServer(client: HttpClient, signal?: AbortSignal): Promise<string> {
  const status = await client.json({ method: 'GET', path: 'status', intent: 'read', signal }, statusSchema);
  const on = status.device_name ? `${status.device} (${status.device_name})` : status.device;
  return `the VisionCraft Pro server answers, on ${on}${status.current_model ? `, with ${status.current_model} loaded` : ''}`;
}

/** The server's local Stable Diffusion, or `leonardo-api` for its Leonardo.ai engine. */
export const VISIONCRAFT_DEFAULT_MODEL = 'stable-diffusion-1.5';

/** `POST /generate`'s documented parameters and ranges; `model` is the server's model name. */
export const visioncraftRequestSchema = z
  .object({
    prompt: z.string().min(1, 'the prompt is empty'),
    negative_prompt: z.string().optional(),
    num_inference_steps: z.number().int().min(15).max(50).optional(),
    guidance_scale: z.number().min(1).max(20).optional(),
    width: z.number().int().min(64).max(2048).optional(),
    height: z.number().int().min(64).max(2048).optional(),
    seed: z.number().int().min(-1).max(4_294_967_295).optional(),
    model: z.string().regex(/^[\w.-]+$/, 'must be a model name the server lists, such as stable-diffusion-1.5'),
    leonardo_model: z.string().min(1).optional(),
    aspect_ratio: z
      .string()
      .regex(/^\d{1,2}:\d{1,2}$/, 'must be a ratio such as 16:9')
      .optional(),
    preset_style: z.string().min(1).optional(),
    quality: z.string().min(1).optional(),
  })
  .strict();
export type VisioncraftRequest = z.output<typeof visioncraftRequestSchema>;

export function buildVisioncraftRequest(request: ResolvedRequest): VisioncraftRequest {
  const parsed = visioncraftRequestSchema.safeParse({ ...request.params, prompt: request.prompt, model: request.model || VISIONCRAFT_DEFAULT_MODEL });
  if (!parsed.success) throw new InvalidRequestError(`VisionCraft Pro: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

const generateAnswerSchema = z.object({
  image: z.string().min(1),
  generation_time: z.number().optional(),
  vram_used: z.number().optional(),
  model: z.string().optional(),
  seed: z.number().optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
});

/** `POST /generate`: the base64 PNG becomes the image's bytes; its seed, time and VRAM go to `msg.job`. */
export async function generateWithVisioncraft(client: HttpClient, body: VisioncraftRequest, signal?: AbortSignal): Promise<Generation> {
  const submittedAt = new Date().toISOString();
  const answer = await client.json({ method: 'POST', path: 'generate', json: body, intent: 'submit', signal }, generateAnswerSchema);
  const data = Buffer.from(answer.image, 'base64');
  const mimeType = detectImageType(data);
  if (!mimeType) throw client.unreadableAnswer('the VisionCraft Pro server did not answer with a PNG, JPEG or WebP image', { intent: 'submit' });
  const size = imageSize(data);
  return {
    images: [{ data, mimeType, ...size, ...(answer.seed === undefined ? {} : { seed: answer.seed }) }],
    job: {
      provider: 'visioncraft',
      model: answer.model ?? body.model,
      status: 'completed',
      submittedAt,
      completedAt: new Date().toISOString(),
      ...(answer.seed === undefined ? {} : { seed: answer.seed }),
      ...(answer.generation_time === undefined ? {} : { generationTime: answer.generation_time }),
      ...(answer.vram_used === undefined ? {} : { vramUsed: answer.vram_used }),
      params: { ...body, ...answer.parameters, ...(answer.seed === undefined ? {} : { seed: answer.seed }) },
    },
  };
}

/** Reads one of the server's informational endpoints (`/status`, `/models`, `/gallery`) as it answers. */
export async function visioncraftInfo(
  client: HttpClient,
  path: 'status' | 'models' | 'gallery',
  query: Record<string, string | number> = {},
  signal?: AbortSignal,
): Promise<Record<string, unknown>> {
  return client.json({ method: 'GET', path, query, intent: 'read', signal }, z.record(z.string(), z.unknown()));
}

export const visioncraftAdapter: ProviderAdapter = {
  kind: 'visioncraft',
  info: {
    label: 'VisionCraft Pro server',
    defaultBaseUrl: 'http://localhost:8000',
    defaultRpm: 600,
    // The server's own advice: 1-2 generations at a time on one GPU.
    defaultConcurrency: 1,
    needsApiKey: false,
    needsAccountId: false,
    needsBaseUrl: false,
    budgetUnit: 'usd',
  },
  authHeaders: (): Record<string, string> => ({}),
  decodeError: decodeVisioncraftError,
  checkAccess: ({ client, signal }) => checkVisioncraftServer(client, signal),
  prepare(request): Submission {
    const body = buildVisioncraftRequest(request);
    // A server on your own GPU costs nothing per image (its Leonardo engine bills that account, and does not say how much).
    return { kind: 'immediate', estimate: { unit: 'usd', amount: 0 }, generate: (client, signal) => generateWithVisioncraft(client, body, signal) };
  },
  editor: {
    models: [
      { id: VISIONCRAFT_DEFAULT_MODEL, label: 'Stable Diffusion 1.5' },
      { id: 'leonardo-api', label: "the server's Leonardo.ai engine" },
    ],
    parameters: { '*': { schema: visioncraftRequestSchema, filledByNode: ['prompt', 'model'] } },
  },
};
