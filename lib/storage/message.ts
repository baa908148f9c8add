import path from 'node:path';
import { z } from 'zod';
import { InvalidRequestError, describeType, jobSchema } from '../contract';
import type { GeneratedImage } from '../contract';
import type { HttpClient } from '../http';
import { optionalAmount } from '../editor/node-settings';
import { DEFAULT_FILENAME_TEMPLATE } from './paths';
import type { NameTokens } from './paths';
import type { GenerationMetadata } from './png-text';
import { DOWNLOAD_DEADLINE_MS, withDeadline } from './download';
import { saveImage } from './save';
import type { ImageSource, SaveTarget, SavedFile } from './save';

/** `directory` as the node stores it: empty means `<userDir>/images`, relative means under the user directory. */
function resolveBaseDirectory(directory: string | undefined, userDir: string): string {
  const chosen = directory?.trim() || 'images';
  return path.resolve(userDir, chosen);
}

/** Images larger than this many MB are refused unless the node says otherwise (0 or empty). */
const DEFAULT_MAX_MB = 100;
/** The largest Max size the node accepts, in MB. */
const MAX_MAX_MB = 10_000;

/** save-image's flow JSON settings (DESIGN.md names); empty values take the defaults. Its editor validates with the same schema. */
export const saveImageSettingsSchema = z.object({
  directory: z.string().optional(),
  filename: z.string().optional(),
  collision: z.enum(['unique', 'overwrite', 'skip', '']).optional(),
  /** In MB; 0 or empty for the default. */
  maxSize: optionalAmount(0, MAX_MAX_MB),
  preview: z.boolean().optional(),
});
export type SaveImageSettings = z.output<typeof saveImageSettingsSchema>;

/** Where and how a save-image node stores files, from its (parsed) settings. */
export function saveTargetOf({ directory, filename, collision, maxSize }: SaveImageSettings, userDir: string): SaveTarget {
  return {
    baseDir: resolveBaseDirectory(directory, userDir),
    template: filename || DEFAULT_FILENAME_TEMPLATE,
    collision: collision || 'unique',
    maxBytes: (maxSize || DEFAULT_MAX_MB) * 1024 * 1024,
  };
}

function sourcesOf(msg: Record<string, unknown>): Array<ImageSource & Partial<GeneratedImage>> {
  if (Array.isArray(msg.images) && msg.images.length > 0) return msg.images as Array<ImageSource & Partial<GeneratedImage>>;
  const payload = msg.payload;
  const items = Array.isArray(payload) ? payload : [payload];
  return items.map((item) => {
    if (Buffer.isBuffer(item)) return { data: item };
    if (typeof item === 'string' && item.trim() !== '') return { url: item.trim() };
    throw new InvalidRequestError(`nothing to save: msg.images, or msg.payload as an image Buffer, a URL or an array of them, not ${describeType(item)}`);
  });
}

const numberOf = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
const stringOf = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** What the message says about how its images were made (msg.job per the contract, else msg.prompt). */
function metadataOf(msg: Record<string, unknown>): GenerationMetadata {
  const job = jobSchema.safeParse(msg.job);
  const params = job.success ? job.data.params : {};
  return {
    prompt: stringOf(params.prompt) ?? stringOf(msg.prompt),
    negativePrompt: stringOf(params.negative_prompt),
    model: job.success ? job.data.model : undefined,
    provider: job.success ? job.data.provider : undefined,
    seed: numberOf(params.seed),
    steps: numberOf(params.num_inference_steps) ?? numberOf(params.steps),
    sampler: stringOf(params.scheduler),
    cfgScale: numberOf(params.guidance_scale),
    jobId: job.success ? job.data.id : undefined,
    params,
    cost: job.success ? job.data.cost : undefined,
  };
}

/** Saves every image of a message, in order, within one deadline; `msg.filename` may override the node's template. */
export async function saveMessageImages(
  target: SaveTarget,
  msg: Record<string, unknown>,
  client: HttpClient,
  signal?: AbortSignal,
  deadlineMs = DOWNLOAD_DEADLINE_MS,
): Promise<SavedFile[]> {
  if (msg.filename !== undefined && typeof msg.filename !== 'string') {
    throw new InvalidRequestError(`msg.filename must be a file-name template, not ${describeType(msg.filename)}`);
  }
  const template = (msg.filename as string | undefined) ?? target.template;
  const sources = sourcesOf(msg);
  const meta = metadataOf(msg);
  const date = new Date();
  const saved: SavedFile[] = [];
  const deadline = withDeadline(signal, deadlineMs);
  for (const [index, source] of sources.entries()) {
    const seed = numberOf(source.seed) ?? meta.seed;
    const tokens: NameTokens = { date, provider: meta.provider, model: meta.model, jobId: meta.jobId, seed, index, prompt: meta.prompt };
    const file = await saveImage(
      { ...target, template },
      { data: source.data, url: source.url },
      { ...meta, seed, sourceUrl: source.url },
      tokens,
      client,
      deadline.signal,
    ).catch((error: unknown) => {
      if (!deadline.expired()) throw error;
      throw client.error(
        `the images were not saved within ${deadlineMs / 1000} s: ${source.url ?? 'an image'} came too slowly, and nothing of it was kept`,
        {},
        {
          kind: 'timeout',
          retryable: false,
        },
      );
    });
    saved.push(file);
  }
  return saved;
}
