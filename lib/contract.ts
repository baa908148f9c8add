import { z } from 'zod';

/**
 * The message contract every generating node speaks (DESIGN.md): `msg.payload` is the first image
 * (bytes when the node has them, else its URL), `msg.images` every output, `msg.job` the job.
 */
export const JOB_STATUSES = ['pending', 'processing', 'completed', 'failed', 'expired'] as const;
export const jobStatusSchema = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof jobStatusSchema>;

/** The provider config kind that ran a job (`local-sd` for local runs); lib/providers/kinds.ts lists the kinds. */
export const jobProviderSchema = z.string().regex(/^[a-z][a-z0-9-]*$/, 'must be a provider kind such as "pixeldojo"');

export const costSchema = z.object({
  credits: z.number().optional(),
  usd: z.number().optional(),
  neurons: z.number().optional(),
});
export type Cost = z.infer<typeof costSchema>;

export const jobSchema = z.object({
  provider: jobProviderSchema,
  model: z.string(),
  id: z
    .string()
    .min(1)
    .refine((id) => !/^(\.|%2e){1,2}$/i.test(id), 'a job id cannot be "." or ".."')
    .optional(),
  status: jobStatusSchema,
  submittedAt: z.string().optional(),
  completedAt: z.string().optional(),
  cost: costSchema.optional(),
  creditsRemaining: z.number().optional(),
  expiresAt: z.string().optional(),
  /** Where the provider said to read the job, when it gives a URL (BFL's polling_url). */
  pollUrl: z.string().optional(),
  /** Local generations (and a VisionCraft Pro server's): the seed used, the seconds it took, and where it ran (cpu or cuda). */
  seed: z.number().optional(),
  generationTime: z.number().optional(),
  /** A VisionCraft Pro server's report of the GPU memory the generation used, in GB. */
  vramUsed: z.number().optional(),
  device: z.string().optional(),
  params: z.record(z.string(), z.unknown()),
});
export type JobInfo = z.infer<typeof jobSchema>;

export interface GeneratedImage {
  url?: string;
  data?: Buffer;
  mimeType?: string;
  width?: number;
  height?: number;
  seed?: number;
  expiresAt?: string;
  /** The provider flagged the image as not safe for work (Leonardo). */
  nsfw?: boolean;
}

export interface Generation {
  images: GeneratedImage[];
  job: JobInfo;
}

/** A provider's answer to "how is job X doing?", normalised. */
export interface JobSnapshot {
  status: JobStatus;
  images?: GeneratedImage[];
  /** The provider's reason, for failed jobs. */
  reason?: string;
  /** A failed job that the provider's content moderation refused. */
  moderated?: boolean;
  cost?: Cost;
  expiresAt?: string;
}

/**
 * Puts a result on the message per the contract, keeping every other property (so `msg.req` and
 * `msg.res` from `http in` survive). A pending job sets only `msg.job`.
 */
export function applyResult(msg: Record<string, unknown>, result: Generation | JobInfo): Record<string, unknown> {
  if (!('images' in result)) {
    msg.job = result;
    return msg;
  }
  msg.images = result.images;
  msg.job = result.job;
  const first = result.images[0];
  if (first) msg.payload = first.data ?? first.url;
  return msg;
}

export const INVALID_REQUEST = 'INVALID_REQUEST';

/** The short node statuses a failure can show; the full message goes to done(err) and the Catch node. */
export type StatusKey =
  | 'failed'
  | 'badInput'
  | 'overBudget'
  | 'notInstalled'
  | 'badConfig'
  | 'timedOut'
  | 'expired'
  | 'jobFailed'
  | 'moderated'
  | 'rateLimited'
  | 'busy'
  | 'refused'
  | 'providerError';

/** The status key an error carries, or `failed` for errors that are not the pack's. */
export function statusKeyOf(error: unknown): StatusKey {
  const key = (error as { statusKey?: unknown } | null | undefined)?.statusKey;
  return typeof key === 'string' ? (key as StatusKey) : 'failed';
}

/** Bad input from a flow or a node's settings: nothing was sent, and the message says what to change. */
export class InvalidRequestError extends Error {
  /** Node-RED copies an error's `code` into a Catch node's msg.error: flows answer 400 for this one. */
  readonly code = INVALID_REQUEST;
  /** The node status it shows (`common.status.<key>`); each domain error names its own. */
  readonly statusKey: StatusKey = 'badInput';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}

/** What a generating node's settings say to generate (DESIGN.md names); its editor validates with the same schema. */
export const configuredRequestSchema = z.object({
  model: z.string().optional(),
  prompt: z.string().optional(),
  params: z.union([z.literal(''), z.record(z.string(), z.unknown())]).optional(),
});
export type ConfiguredRequest = z.output<typeof configuredRequestSchema>;

export interface ResolvedRequest {
  prompt: string;
  model: string;
  params: Record<string, unknown>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/**
 * What to generate, from a message and the node's settings: the prompt from `msg.prompt`, else a
 * string `msg.payload`, else the configured prompt; `msg.model` overrides the model; `msg.params`
 * is merged over the configured parameters. The prompt may be empty here: each provider checks its
 * own documented limits.
 */
export function resolveRequest(msg: Record<string, unknown>, configured: ConfiguredRequest): ResolvedRequest {
  if (msg.prompt !== undefined && typeof msg.prompt !== 'string') {
    throw new InvalidRequestError(`msg.prompt must be a string, not ${describeType(msg.prompt)}`);
  }
  if (msg.model !== undefined && (typeof msg.model !== 'string' || msg.model.trim() === '')) {
    throw new InvalidRequestError(`msg.model must be a model name, not ${describeType(msg.model)}`);
  }
  if (msg.params !== undefined && !isPlainObject(msg.params)) {
    throw new InvalidRequestError(`msg.params must be an object of parameters, not ${describeType(msg.params)}`);
  }
  const configuredParams = configured.params || {};
  const prompt = msg.prompt ?? (typeof msg.payload === 'string' ? msg.payload : undefined) ?? configured.prompt ?? '';
  const model = ((msg.model as string | undefined) ?? configured.model ?? '').trim();
  return { prompt: prompt.trim(), model, params: { ...configuredParams, ...(msg.params as Record<string, unknown> | undefined) } };
}

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (Buffer.isBuffer(value)) return 'a Buffer';
  const type = typeof value;
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** A zod failure as one sentence naming the parameter, for InvalidRequestError messages. */
export function describeIssues(error: z.ZodError, prefix = ''): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length > 0 ? `${prefix}${issue.path.join('.')}` : prefix.replace(/\.$/, '') || 'the request';
      // A union's own message is only "Invalid input": its last alternative says what was expected.
      const message = issue.code === 'invalid_union' ? (issue.errors.at(-1)?.[0]?.message ?? issue.message) : issue.message;
      return `${where}: ${message}`;
    })
    .join('; ');
}
