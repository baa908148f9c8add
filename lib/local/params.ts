import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { describeIssues, InvalidRequestError } from '../contract';
import { parameterSchemaOf } from '../editor/node-settings';
import { MAX_SEED } from './random';
import { SCHEDULERS } from './schedulers';

/**
 * local-sd's parameters, with VisionCraft's names, defaults and upper bounds (50 steps, guidance
 * 20). The lower bounds are widened for distilled models: SD-Turbo and LCM run 1 to 4 steps with
 * guidance 0 to 2.
 */
const dimension = z.number().int().min(64).max(2048).multipleOf(8, { message: 'must be a multiple of 8' });

export const localSdParamsSchema = z.strictObject({
  negative_prompt: z.string().max(10_000).default(''),
  num_inference_steps: z.number().int().min(1).max(50).default(20),
  /** At or below 1, classifier-free guidance is off and the UNet runs once per step. */
  guidance_scale: z.number().min(0).max(20).default(7.5),
  width: dimension.default(512),
  height: dimension.default(512),
  /** -1 picks a random seed; the one used is reported. */
  seed: z.number().int().min(-1).max(MAX_SEED).default(-1),
  /** Absent: the scheduler the model ships with (Euler when that one is not available here). */
  scheduler: z.enum(SCHEDULERS).optional(),
  /** img2img: how far from the input image to go (1 = ignore it). */
  strength: z.number().gt(0).max(1).default(0.75),
  /** img2img input: PNG or JPEG bytes, or the same as base64. */
  image: z.union([z.instanceof(Buffer), z.string().min(1)]).optional(),
  /** Inpainting: a mask over `image` (white = repaint, black = keep), PNG or JPEG bytes or base64. */
  mask: z.union([z.instanceof(Buffer), z.string().min(1)]).optional(),
});
export type LocalSdParams = z.output<typeof localSdParamsSchema>;

/** The parameters local-sd's form shows for this machine (RED.settings.localSdParameters): all but the image inputs, which come with the message. */
export const LOCAL_SD_FORM_OMITS = ['image', 'mask'] as const;
export const localSdParametersForEditor = parameterSchemaOf(localSdParamsSchema, LOCAL_SD_FORM_OMITS);

/** Everything a generation needs, settled: the seed chosen, the image as bytes. Crosses to the runner process. */
export const generationSettingsSchema = z.object({
  prompt: z.string(),
  negativePrompt: z.string(),
  steps: z.number().int().positive(),
  guidance: z.number().nonnegative(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  seed: z.number().int().min(0).max(MAX_SEED),
  /** Undefined: the model's own. */
  scheduler: z.enum(SCHEDULERS).optional(),
  strength: z.number().positive().max(1),
  /** img2img input, encoded (PNG/JPEG). */
  image: z.custom<Uint8Array>((value) => value instanceof Uint8Array).optional(),
  /** Inpainting mask over `image`, encoded (white = repaint). */
  mask: z.custom<Uint8Array>((value) => value instanceof Uint8Array).optional(),
});
export type GenerationSettings = z.output<typeof generationSettingsSchema>;

function imageBytes(image: Buffer | string, name: 'image' | 'mask'): Buffer {
  if (Buffer.isBuffer(image)) return image;
  const base64 = image.replace(/^data:image\/[a-z+]+;base64,/i, '');
  if (!/^[A-Za-z0-9+/=\s]+$/.test(base64)) throw new InvalidRequestError(`params.${name} must be image bytes (a Buffer) or base64 text`);
  return Buffer.from(base64, 'base64');
}

/** Checks a prompt and merged parameters before anything is loaded or run. */
export function settleGeneration(prompt: string, params: Record<string, unknown>): GenerationSettings {
  if (prompt === '') throw new InvalidRequestError("the prompt is empty: set msg.prompt, a string msg.payload, or the node's prompt");
  if (prompt.length > 10_000) throw new InvalidRequestError(`the prompt is ${prompt.length} characters; at most 10000 are accepted`);
  const parsed = localSdParamsSchema.safeParse(params);
  if (!parsed.success) throw new InvalidRequestError(`invalid parameters: ${describeIssues(parsed.error, 'params.')}`);
  const p = parsed.data;
  if (p.mask !== undefined && p.image === undefined)
    throw new InvalidRequestError('params.mask needs params.image: the image whose white-masked part is repainted');
  return {
    prompt,
    negativePrompt: p.negative_prompt,
    steps: p.num_inference_steps,
    guidance: p.guidance_scale,
    width: p.width,
    height: p.height,
    seed: p.seed === -1 ? randomInt(0, MAX_SEED) : p.seed,
    scheduler: p.scheduler,
    strength: p.strength,
    image: p.image === undefined ? undefined : imageBytes(p.image, 'image'),
    mask: p.mask === undefined ? undefined : imageBytes(p.mask, 'mask'),
  };
}
