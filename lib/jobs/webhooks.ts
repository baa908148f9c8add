import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { JobSnapshot } from '../contract';
import { InvalidRequestError } from '../contract';
import { PROVIDER_APIS, adapterOf, isProviderApi } from '../providers/kinds';
import type { ProviderApi } from '../providers/kinds';

/** A provider whose adapter reads callbacks. */
export type WebhookProvider = ProviderApi;

export function isWebhookProvider(provider: string): provider is WebhookProvider {
  return isProviderApi(provider) && adapterOf(provider).webhook !== undefined;
}

/**
 * job-webhook's settings; its editor validates with the same schema. A path is letters, digits,
 * - _ . ~ and slashes, starting with /, with no `..` segment; empty for the default.
 */
export const jobWebhookSettingsSchema = z.object({
  path: z
    .union([z.literal(''), z.string().regex(/^(?!.*\/\.\.(?:\/|$))(?:\/[\w.~-]+)+$/, 'use letters, digits, - _ . ~ and slashes, starting with /')])
    .optional()
    .transform((path) => path || '/image-gen/webhook'),
});

/** A new per-job secret: 192 random bits, URL-safe. */
export function newWebhookSecret(): string {
  return randomBytes(24).toString('base64url');
}

/** What is kept of a secret (in memory and in the journal): its SHA-256, never the secret itself. */
export function webhookSecretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * The public URL of a job-webhook endpoint: the provider config's `webhookBaseUrl` (the public
 * address of Node-RED's HTTP root for flows) followed by the node's path.
 */
export function webhookEndpointUrl(baseUrl: string, path: string): string {
  if (!baseUrl) {
    throw new InvalidRequestError(
      'completion "webhook" needs the provider config\'s webhook URL: the public address at which the provider can reach this Node-RED',
    );
  }
  return `${baseUrl.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** Who a callback says it is from, and the secret it carries; nothing checked yet. */
export interface DeliveryCredentials {
  provider: WebhookProvider;
  secret: string;
}

/** The provider a callback comes from and its secret, wherever that provider's adapter says it puts it. */
export function deliveryCredentials(query: Record<string, unknown>, headers: Record<string, unknown>, body?: unknown): DeliveryCredentials | undefined {
  for (const provider of PROVIDER_APIS) {
    const secret = adapterOf(provider).webhook?.secretOf(query, headers, body);
    if (secret) return { provider, secret };
  }
  return undefined;
}

/** One provider callback, read in the provider's documented shape. */
export interface WebhookDelivery extends DeliveryCredentials {
  jobId?: string;
  snapshot: JobSnapshot;
}

/** Reads a callback body as its provider documents it; undefined when it is not that shape. */
export function readDelivery(credentials: DeliveryCredentials, body: unknown): WebhookDelivery | undefined {
  const read = adapterOf(credentials.provider).webhook?.read(body);
  return read && { ...credentials, ...read };
}

/** Whether two secret digests match, compared in constant time. */
export function sameSecretHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The largest callback body accepted: a job object with a few URLs is a few kilobytes. */
export const MAX_WEBHOOK_BYTES = 256 * 1024;

/** Reads a request body up to `maxBytes`; undefined when it is larger (the rest is not read). */
export async function readBodyWithin(stream: AsyncIterable<Buffer | string>, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    if (size > maxBytes) return undefined;
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

/**
 * A webhook request as Node-RED's httpNode hands it over. When the editor API and the node routes share
 * a root (`/` for both is Node-RED's default), the editor API's body parser runs first: it has already
 * read a JSON body into `body` and marked the request with `_body`, and the stream is empty.
 */
export interface WebhookRequest extends AsyncIterable<Buffer | string> {
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  _body?: boolean;
}

export type WebhookBody = { kind: 'json'; value: unknown } | { kind: 'too-large' };

/** The JSON a delivery carries (undefined when it is not JSON), read from the stream or taken from an earlier parser. */
export async function readWebhookBody(req: WebhookRequest, maxBytes: number): Promise<WebhookBody> {
  if (Number(req.headers['content-length']) > maxBytes) return { kind: 'too-large' };
  if (req._body === true) {
    return Buffer.byteLength(JSON.stringify(req.body) ?? '') > maxBytes ? { kind: 'too-large' } : { kind: 'json', value: req.body };
  }
  const bytes = await readBodyWithin(req, maxBytes);
  if (!bytes) return { kind: 'too-large' };
  try {
    return { kind: 'json', value: JSON.parse(bytes.toString('utf8')) as unknown };
  } catch {
    return { kind: 'json', value: undefined };
  }
}

const TERMINAL = new Set<JobSnapshot['status']>(['completed', 'failed', 'expired']);

/** A job whose provider was asked to call back: deliveries land here until the job is settled. */
export interface WebhookExpectation {
  readonly provider: WebhookProvider;
  readonly secretHash: string;
  /** The provider's job id once the submit has answered (set through WebhookRegistry.identify). */
  readonly jobId?: string;
  /** Resolves with the first terminal delivery (completed, failed or expired). */
  readonly terminal: Promise<JobSnapshot>;
  /** Non-terminal deliveries (progress), for node status. */
  onProgress?: (snapshot: JobSnapshot) => void;
}

interface Entry extends WebhookExpectation {
  jobId?: string;
  resolve(snapshot: JobSnapshot): void;
  finished: boolean;
  expiresAt: number;
}

export type DeliveryOutcome = 'completed' | 'progress' | 'repeat' | 'unknown';

/** How long an unsettled expectation is kept (a job handed on with completion `job` may never be collected). */
const EXPECTATION_TTL_MS = 24 * 3600_000;
/** Settled secrets remembered, so late repeats are answered 200 and ignored rather than refused. */
const SETTLED_LIMIT = 10_000;

/**
 * Correlates provider callbacks with the jobs waiting for them, in this process. Each job is known
 * by the digest of its secret; a delivery's secret is hashed, looked up, and compared in constant
 * time. A job settles once: the first terminal delivery or a poll, whichever comes first, and every
 * later delivery is a repeat.
 */
export class WebhookRegistry {
  /** By secret digest, in the order registered, which is also the order they expire in. */
  private readonly pending = new Map<string, Entry>();
  /** Secret digests by `provider:jobId`, so job-poll finds a job's expectation without a scan. */
  private readonly byJob = new Map<string, string>();
  private readonly settled = new Set<string>();

  /** Registers a job (before its submit is sent, so a fast callback is not missed). */
  expect(provider: WebhookProvider, secretHash: string, jobId?: string): WebhookExpectation {
    this.sweep();
    const existing = this.pending.get(secretHash);
    if (existing) return existing;
    let resolve!: (snapshot: JobSnapshot) => void;
    const terminal = new Promise<JobSnapshot>((done) => (resolve = done));
    const entry: Entry = { provider, secretHash, terminal, resolve, finished: false, expiresAt: Date.now() + EXPECTATION_TTL_MS };
    this.pending.set(secretHash, entry);
    if (jobId) this.identify(entry, jobId);
    return entry;
  }

  /** Records the job id the provider gave a job once its submit has answered. */
  identify(expectation: WebhookExpectation, jobId: string): void {
    const entry = this.pending.get(expectation.secretHash);
    if (!entry) return;
    entry.jobId = jobId;
    this.byJob.set(`${entry.provider}:${jobId}`, entry.secretHash);
  }

  /** The expectation of a job submitted in this process with a webhook, if any (for job-poll). */
  forJob(provider: string, jobId: string): WebhookExpectation | undefined {
    const hash = this.byJob.get(`${provider}:${jobId}`);
    return hash === undefined ? undefined : this.pending.get(hash);
  }

  /** Marks a job done, whichever way it ended: later deliveries for it are repeats. */
  settle(expectation: Pick<WebhookExpectation, 'secretHash'>): void {
    this.forget(expectation.secretHash);
    this.settled.add(expectation.secretHash);
    if (this.settled.size > SETTLED_LIMIT) this.settled.delete(this.settled.values().next().value as string);
  }

  /** Whether a secret belongs to a job this process knows, pending or settled. */
  knows(secretHash: string): boolean {
    return this.pending.has(secretHash) || this.settled.has(secretHash);
  }

  deliver(delivery: WebhookDelivery): DeliveryOutcome {
    const hash = webhookSecretHash(delivery.secret);
    const entry = this.pending.get(hash);
    if (!entry) return this.settled.has(hash) ? 'repeat' : 'unknown';
    // The lookup found the digest; the comparison that authorises is constant-time all the same.
    if (!sameSecretHash(hash, entry.secretHash)) return 'unknown';
    if (entry.provider !== delivery.provider || (entry.jobId && delivery.jobId && entry.jobId !== delivery.jobId)) return 'unknown';
    if (entry.finished) return 'repeat';
    if (!TERMINAL.has(delivery.snapshot.status)) {
      entry.onProgress?.(delivery.snapshot);
      return 'progress';
    }
    entry.finished = true;
    entry.resolve(delivery.snapshot);
    return 'completed';
  }

  private forget(secretHash: string): void {
    const entry = this.pending.get(secretHash);
    if (!entry) return;
    this.pending.delete(secretHash);
    if (entry.jobId) this.byJob.delete(`${entry.provider}:${entry.jobId}`);
  }

  /** Drops expired expectations: the oldest first, stopping at the first that has not expired. */
  private sweep(): void {
    const now = Date.now();
    for (const [hash, entry] of this.pending) {
      if (entry.expiresAt >= now) return;
      this.forget(hash);
    }
  }
}

/** The process's registry, shared by every submitting node, job-poll and job-webhook. */
export const webhookRegistry = new WebhookRegistry();
