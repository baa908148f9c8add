import type { Generation, JobInfo, JobSnapshot, ResolvedRequest } from '../contract';
import type { DecodedError, HttpClient, RequestSpec } from '../http';
import type { z } from 'zod';
import type { CostEstimate } from './budget';

/** How a provider config of one kind is filled in and limited by default. */
export interface ProviderInfo {
  label: string;
  /** Empty where the user must give one (a deployed worker) or the pack makes one (sandbox). */
  defaultBaseUrl: string;
  defaultRpm: number;
  defaultConcurrency: number;
  needsApiKey: boolean;
  needsAccountId: boolean;
  needsBaseUrl: boolean;
  /** What the config's budget counts in: the unit this provider bills in. */
  budgetUnit?: CostEstimate['unit'];
  /** Its result URLs expire within minutes, so a node downloads the images unless told not to. */
  downloadByDefault?: boolean;
}

/** Where a provider should call back for one job: the job-webhook endpoint's public URL and the job's secret. */
export interface CallbackTarget {
  url: string;
  secret: string;
}

/** What an adapter needs from the connection it submits through. */
export interface SubmitContext {
  client: HttpClient;
  /** The account a REST API addresses (Cloudflare); the connection resolves it, sandbox or not. */
  accountId?: string;
  /** The config has a budget, so the submit needs a price before it is sent (a provider may ask its free calculator). */
  priced?: boolean;
  signal?: AbortSignal;
}

/**
 * A checked request for a provider that answers later (a job), built and priced before anything
 * is sent: `lib/jobs` charges, journals and sends it, then completes the job.
 */
export interface JobSubmission {
  kind: 'job';
  /** The job as known before the submit answers (for the journal). */
  draft: JobInfo;
  estimate: CostEstimate | undefined;
  send(client: HttpClient, callback: CallbackTarget | undefined, request: Pick<RequestSpec, 'signal' | 'beforeSend' | 'onWait'>): Promise<JobInfo>;
}

/** A checked request for a provider that answers with the images. */
export interface ImmediateSubmission {
  kind: 'immediate';
  estimate: CostEstimate | undefined;
  generate(client: HttpClient, signal?: AbortSignal): Promise<Generation>;
}

export type Submission = JobSubmission | ImmediateSubmission;

/** A job's state as the provider reports it, read by job id (or the URL the submit gave). */
export type JobReader = (client: HttpClient, job: JobInfo, signal?: AbortSignal) => Promise<JobSnapshot>;

/** How a provider's callbacks are recognised, authenticated and read. */
export interface WebhookSupport {
  /** The secret a delivery carries, where this provider puts it; undefined when the request is not this provider's. */
  secretOf(query: Record<string, unknown>, headers: Record<string, unknown>, body: unknown): string | undefined;
  /**
   * For a provider that calls one URL per account with one callback key (set at the provider, not
   * per job): a job's secret, from the config's key and the job id; secretOf gives the same from a
   * delivery. Absent where each submit carries its own per-job secret.
   */
  jobSecret?(callbackKey: string, jobId: string): string;
  /** The delivery body in the provider's documented shape; undefined when it is not that shape. */
  read(body: unknown): { jobId?: string; snapshot: JobSnapshot } | undefined;
}

/** What the editor shows for a provider: its models (when fixed) with their prices and parameter schema. */
export interface EditorMetadata {
  /**
   * `price`: per image, short enough for a select ("1.5 cr", "$0.02"); `taskTypes`: the task types a
   * model runs, where the node picks one (PiAPI).
   */
  models: Array<{ id: string; label?: string; price?: string; taskTypes?: readonly string[] }>;
  /** Where the editor fetches the live model list, when the provider publishes one. */
  modelsEndpoint?: string;
  /**
   * The parameters the runtime accepts, per model or task type (`*` for all of them): the zod
   * schema it validates with, and the fields the node fills from its own settings. The editor gets
   * them as JSON Schema (providersForEditor): one source for the dialog's forms and the runtime.
   */
  parameters: Record<string, { schema: z.ZodType; filledByNode?: readonly string[] }>;
}

/**
 * One provider, as everything else in the pack sees it. `lib/jobs` works through this shape alone,
 * so adding a provider is its adapter, its emulator, its tests and its editor entry.
 */
export interface ProviderAdapter<Options = unknown> {
  /** The `kind` a provider config stores for it. */
  kind: string;
  info: ProviderInfo;
  authHeaders(apiKey: string | undefined): Record<string, string>;
  decodeError(status: number, body: string): DecodedError | undefined;
  /** A request that costs nothing and proves the credentials; answers a sentence for the dialog. */
  checkAccess(context: SubmitContext): Promise<string>;
  /** Builds, validates and prices a submit from a resolved request: bad input fails here, before anything is sent. */
  prepare(request: ResolvedRequest, options: Options, context: SubmitContext): Submission | Promise<Submission>;
  /** Reads a submitted job's state; absent for providers that answer at once. */
  poll?: JobReader;
  webhook?: WebhookSupport;
  editor: EditorMetadata;
}

/** `Authorization: Bearer <key>`, the way most providers take their key; nothing without one. */
export function bearerAuth(apiKey: string | undefined): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}
