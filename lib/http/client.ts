import type { Readable } from 'node:stream';
import { Agent, errors as undiciErrors, request } from 'undici';
import type { Dispatcher } from 'undici';
import type { ZodType } from 'zod';
import { InvalidRequestError } from '../contract';
import { backoffDelay, serverRequestedWaitMs } from './backoff';
import { ProviderError, redact } from './errors';
import type { FailureKind } from './errors';
import { LimiterQueueFullError } from './limiters';
import type { RateGrant, RateLimiter } from './limiters';
import { DEFAULT_RETRY_POLICY, mayRetry, submitMayHaveBeenAccepted } from './retry-policy';
import type { AttemptFailure, RequestIntent, RetryPolicy } from './retry-policy';
import { sleep } from './wait-queue';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RequestSpec {
  method: HttpMethod;
  /** Relative to the client's base URL, or an absolute http(s) URL (e.g. a provider's statusUrl). */
  path: string;
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  headers?: Record<string, string>;
  intent: RequestIntent;
  signal?: AbortSignal;
  /** Named in every error about this request. */
  jobId?: string;
  /** Answers larger than this fail instead of filling memory. */
  maxBodyBytes?: number;
  /** Send the provider's credentials (false for public CDN URLs). Default true. */
  authenticate?: boolean;
  /** Count against the provider's request limit (false for CDN downloads, which are not API calls). Default true. */
  rateLimited?: boolean;
  /**
   * Runs once, after the rate limiter admitted the request and just before it is first sent: the
   * pending-job journal records a submit's intent here, so a request that never left is never recorded.
   */
  beforeSend?: () => Promise<void>;
  /** Called when the request must wait for the provider config's rate limit (a node's status says so). */
  onWait?: () => void;
}

/** What an answer's errors need to know of the request it answers. */
export type AnswerContext = Pick<RequestSpec, 'jobId'> & { intent?: RequestIntent };

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface StreamingResponse {
  status: number;
  headers: Record<string, string>;
  body: Readable;
}

/** A provider's documented error body, reduced to what a person needs. */
export interface DecodedError {
  code?: string;
  message?: string;
  /** False when the provider's code says a retry cannot help (e.g. a daily quota used up). */
  retryable?: false;
}

export interface RetryNotice {
  attempt: number;
  delayMs: number;
  reason: string;
}

export interface HttpClientOptions {
  /** Display name used in errors, e.g. "PixelDojo". */
  provider: string;
  baseUrl: string;
  /** Authentication headers, sent unless a request says otherwise. */
  authHeaders?: Record<string, string>;
  /** Values that must never appear in an error or log line. */
  secrets?: readonly string[];
  /** How long an attempt may wait for the answer's headers, and then between chunks of its body. */
  timeoutMs: number;
  connectTimeoutMs?: number;
  rateLimiter?: RateLimiter;
  retry?: Partial<RetryPolicy>;
  decodeError?: (status: number, body: string) => DecodedError | undefined;
  onRetry?: (notice: RetryNotice) => void;
}

const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
const ERROR_BODY_LIMIT = 64 * 1024;
const KEEP_ALIVE_MS = 4_000;
/**
 * Sockets per provider origin: thousands of jobs in flight (a nightly batch) share these instead of
 * opening a socket each; requests beyond them wait in the pool, where no timeout runs yet.
 */
const CONNECTIONS_PER_ORIGIN = 128;
const NEVER_CONNECTED_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
const RESPONSE_TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Thrown inside an attempt; turned into a ProviderError (or a retry) by the loop. */
class AttemptError extends Error {
  constructor(
    readonly failure: AttemptFailure,
    readonly kind: FailureKind,
    message: string,
    readonly decoded?: DecodedError,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * The one HTTP client of the pack: a keep-alive pool per origin (undici Agent), timeouts,
 * cancellation, the retry rules of `retry-policy`, the provider config's rate limiter on every
 * attempt, and credentials kept out of every error.
 */
export class HttpClient {
  private readonly agent: Agent;
  private readonly policy: RetryPolicy;
  private readonly base: URL;

  /** The host (and port) requests relative to the base URL go to. */
  get baseHost(): string {
    return this.base.host;
  }

  constructor(private readonly options: HttpClientOptions) {
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.agent = new Agent({
      connections: CONNECTIONS_PER_ORIGIN,
      keepAliveTimeout: KEEP_ALIVE_MS,
      connectTimeout: options.connectTimeoutMs ?? Math.min(options.timeoutMs, 10_000),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  }

  get provider(): string {
    return this.options.provider;
  }

  /** Sends the request; a non-2xx answer becomes a ProviderError. */
  send(spec: RequestSpec): Promise<HttpResponse> {
    return this.withRetries(spec, async (url) => {
      const opened = await this.open(url, spec);
      const limit = spec.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
      try {
        return { status: opened.status, headers: opened.headers, body: await readBody(opened.body, limit) };
      } catch (error) {
        if (error instanceof AttemptError) throw error;
        throw this.classifyTransportError(error, spec.signal);
      }
    });
  }

  /**
   * Opens a 2xx answer whose body the caller streams (downloads straight to disk). Failures before
   * the body starts are retried as for `send`; the caller owns the stream and must consume or destroy it.
   */
  stream(spec: RequestSpec): Promise<StreamingResponse> {
    return this.withRetries(spec, (url) => this.open(url, spec));
  }

  private async withRetries<T>(spec: RequestSpec, attemptOnce: (url: URL) => Promise<T>): Promise<T> {
    const url = this.resolve(spec);
    for (let attempt = 0; ; attempt++) {
      const place = await this.acquireSlot(spec);
      try {
        if (attempt === 0) await spec.beforeSend?.();
      } catch (error) {
        place?.cancel();
        throw error;
      }
      // The request counts against the rate limit from now, when it leaves, not from its grant.
      place?.sent();
      try {
        return await attemptOnce(url);
      } catch (error) {
        if (!(error instanceof AttemptError)) throw this.toProviderError(error, spec);
        const delayMs = this.retryDelay(error, spec, attempt);
        if (delayMs === undefined) throw this.finalError(error, spec);
        this.options.onRetry?.({ attempt: attempt + 1, delayMs, reason: this.redact(error.message) });
        await sleep(delayMs, spec.signal).catch((reason: unknown) => {
          throw this.toProviderError(reason, spec);
        });
      }
    }
  }

  /** Sends the request and parses its JSON answer against the documented schema. */
  async json<T>(spec: RequestSpec, schema: ZodType<T>): Promise<T> {
    const response = await this.send(spec);
    return this.parse(response, schema, spec);
  }

  /** Parses an answer already received (e.g. one whose status a provider module inspects). */
  parse<T>(response: HttpResponse, schema: ZodType<T>, spec: AnswerContext): T {
    let data: unknown;
    try {
      data = JSON.parse(response.body.toString('utf8'));
    } catch {
      throw this.unreadableAnswer(`${this.provider} sent an answer that is not JSON (HTTP ${response.status})`, spec, response.status);
    }
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue.path.length > 0 ? issue.path.join('.') : 'the body';
      throw this.unreadableAnswer(`${this.provider} sent an answer without the documented shape (${where}: ${issue.message})`, spec, response.status);
    }
    return parsed.data;
  }

  /**
   * A success answer that cannot be used. For a paid submit the provider took the request, so the job
   * may exist and be billed: the error says so, and the budget keeps its cost.
   */
  unreadableAnswer(message: string, spec: AnswerContext, status?: number): ProviderError {
    const submitted = spec.intent === 'submit';
    const text = submitted
      ? `${message}. ${this.provider} answered the paid request with success, so a job may exist and be billed: ` +
        `it was not sent again. Check the provider's recent jobs before retrying`
      : message;
    return this.error(text, spec, { kind: 'malformed', status, retryable: false, mayHaveBeenAccepted: submitted });
  }

  /** Builds a ProviderError for this client: provider named, job id appended, credentials removed. */
  error(message: string, spec: Pick<RequestSpec, 'jobId'>, details: Omit<ConstructorParameters<typeof ProviderError>[1], 'provider' | 'jobId'>): ProviderError {
    const withJob = spec.jobId && !message.includes(spec.jobId) ? `${message} (job ${spec.jobId})` : message;
    return new ProviderError(this.redact(withJob), { ...details, provider: this.provider, jobId: spec.jobId });
  }

  redact(text: string): string {
    return redact(text, this.options.secrets ?? []);
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }

  private resolve(spec: RequestSpec): URL {
    const absolute = /^https?:\/\//i.test(spec.path);
    // An id or model name of "." or ".." would move the request, with its credentials, to another route.
    if (!absolute && spec.path.split('/').some(isDotSegment)) {
      throw new InvalidRequestError(
        `refused before sending to ${this.provider}: a job id or model name of "." or ".." (or their %2e forms) would change the API route (${this.redact(shorten(spec.path))})`,
      );
    }
    const url = absolute ? new URL(spec.path) : new URL(spec.path.replace(/^\//, ''), this.base);
    for (const [key, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }

  private async acquireSlot(spec: RequestSpec): Promise<RateGrant | undefined> {
    if (spec.rateLimited === false) return undefined;
    try {
      return await this.options.rateLimiter?.acquire(spec.signal, spec.onWait);
    } catch (error) {
      throw this.toProviderError(error, spec);
    }
  }

  /** One attempt: a 2xx answer with its body unread, or an AttemptError (error bodies are read here). */
  private async open(url: URL, spec: RequestSpec): Promise<StreamingResponse> {
    const signal = spec.signal;
    const headers: Record<string, string> = {
      accept: 'application/json, image/*;q=0.9, */*;q=0.8',
      ...(spec.authenticate === false ? {} : this.options.authHeaders),
      ...spec.headers,
    };
    let body: string | undefined;
    if (spec.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(spec.json);
    }
    let answer: Dispatcher.ResponseData;
    try {
      answer = await request(url, { method: spec.method, headers, body, signal, dispatcher: this.agent });
    } catch (error) {
      throw this.classifyTransportError(error, spec.signal);
    }
    const responseHeaders = flattenHeaders(answer.headers);
    if (answer.statusCode >= 200 && answer.statusCode < 300) return { status: answer.statusCode, headers: responseHeaders, body: answer.body };
    let bytes: Buffer;
    try {
      bytes = await readBody(answer.body, ERROR_BODY_LIMIT, false);
    } catch (error) {
      throw this.classifyTransportError(error, spec.signal);
    }
    const decoded = this.options.decodeError?.(answer.statusCode, bytes.toString('utf8'));
    throw new AttemptError(
      { kind: 'status', status: answer.statusCode },
      'http',
      describeStatus(this.provider, answer.statusCode, decoded),
      decoded,
      responseHeaders,
    );
  }

  /** Undici's headers and body timeouts (set on the Agent) end an attempt that takes too long. */
  private classifyTransportError(error: unknown, callerSignal: AbortSignal | undefined): Error {
    if (callerSignal?.aborted) return this.abortedError();
    const code = errorCode(error);
    if (code && RESPONSE_TIMEOUT_CODES.has(code)) {
      return new AttemptError({ kind: 'timeout', reachedServer: true }, 'timeout', `${this.provider} did not answer within ${this.options.timeoutMs} ms`);
    }
    const neverConnected = code !== undefined && NEVER_CONNECTED_CODES.has(code);
    const detail = error instanceof Error ? error.message : String(error);
    return new AttemptError(
      neverConnected ? { kind: 'network', reachedServer: false } : { kind: 'network', reachedServer: true },
      'network',
      neverConnected
        ? `could not connect to ${this.provider} at ${this.base.origin} (${code})`
        : `the connection to ${this.provider} failed (${code ?? detail})`,
    );
  }

  private abortedError(): AttemptError {
    return new AttemptError({ kind: 'network', reachedServer: true }, 'aborted', `the request to ${this.provider} was cancelled`);
  }

  /** Milliseconds to wait before the next attempt, or undefined when the failure is final. */
  private retryDelay(error: AttemptError, spec: RequestSpec, attempt: number): number | undefined {
    if (error.kind === 'aborted' || attempt >= this.policy.maxRetries || error.decoded?.retryable === false) return undefined;
    if (!mayRetry(spec.intent, error.failure)) return undefined;
    const asked = error.failure.kind === 'status' ? serverRequestedWaitMs(error.headers) : undefined;
    if (asked !== undefined) return asked > this.policy.maxServerWaitMs ? undefined : asked;
    return backoffDelay(attempt, {
      initialMs: this.policy.initialDelayMs,
      maxMs: this.policy.maxDelayMs,
      random: this.policy.random,
    });
  }

  private finalError(error: AttemptError, spec: RequestSpec): ProviderError {
    const status = error.failure.kind === 'status' ? error.failure.status : undefined;
    const asked = status === undefined ? undefined : serverRequestedWaitMs(error.headers);
    const tooLong = asked !== undefined && asked > this.policy.maxServerWaitMs;
    const ambiguous = spec.intent === 'submit' && error.kind !== 'aborted' && submitMayHaveBeenAccepted(error.failure);
    let message = error.message;
    if (tooLong) {
      message += `; it asks to wait ${Math.ceil(asked / 1000)} s, longer than the ${this.policy.maxServerWaitMs / 1000} s this pack waits`;
    }
    if (ambiguous) {
      message +=
        `. The request may have reached ${this.provider}, so a job may exist and be billed: ` +
        `it was not sent again. Check the provider's recent jobs before retrying`;
    }
    return this.error(message, spec, {
      kind: tooLong ? 'rate-limited' : error.kind,
      status,
      code: error.decoded?.code,
      retryable: error.kind !== 'aborted' && error.decoded?.retryable !== false && mayRetry(spec.intent, error.failure),
      mayHaveBeenAccepted: ambiguous,
      retryAfterMs: asked,
    });
  }

  private toProviderError(error: unknown, spec: RequestSpec): ProviderError {
    if (error instanceof ProviderError) return error;
    if (error instanceof LimiterQueueFullError) {
      return this.error(error.message, spec, { kind: 'queue-full', retryable: true, cause: error });
    }
    if (spec.signal?.aborted || (error instanceof Error && error.name === 'AbortError')) {
      return this.error(`the request to ${this.provider} was cancelled`, spec, { kind: 'aborted', retryable: false });
    }
    const message = error instanceof Error ? error.message : String(error);
    return this.error(`request to ${this.provider} failed: ${message}`, spec, { kind: 'network', retryable: false });
  }
}

function describeStatus(provider: string, status: number, decoded: DecodedError | undefined): string {
  const code = decoded?.code ? ` ${decoded.code}` : '';
  const said = decoded?.message ? `: ${decoded.message}` : '';
  const hint = STATUS_HINTS[status] ?? (status >= 500 ? 'the provider failed; try again later' : undefined);
  return `${provider} answered HTTP ${status}${code}${said}${hint ? ` (${hint})` : ''}`;
}

const STATUS_HINTS: Record<number, string> = {
  401: 'the API key was refused: check the credentials in the provider config',
  402: 'not enough credits on the account',
  403: 'the key may lack permission, or the account lacks credits',
  404: 'not found: check the model, job id or base URL',
  410: 'expired',
  429: 'rate limit exceeded',
};

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined) flat[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

async function readBody(body: Readable, limit: number, failWhenLarger = true): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) {
      body.destroy();
      if (failWhenLarger) {
        throw new AttemptError({ kind: 'status', status: 200 }, 'malformed', `the answer is larger than the ${limit} bytes allowed`);
      }
      chunks.push(buffer.subarray(0, buffer.length - (size - limit)));
      break;
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function errorCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const own = (error as { code?: unknown }).code;
  const cause = (error.cause as { code?: unknown } | undefined)?.code;
  if (error instanceof undiciErrors.ConnectTimeoutError) return 'UND_ERR_CONNECT_TIMEOUT';
  if (typeof cause === 'string' && NEVER_CONNECTED_CODES.has(cause)) return cause;
  if (typeof own === 'string') return own;
  return typeof cause === 'string' ? cause : undefined;
}

/** "." or "..", as written or percent-encoded: URL resolution would act on it as a directory step. */
function isDotSegment(segment: string): boolean {
  return /^(\.|%2e){1,2}$/i.test(segment);
}

/** A path as shown in an error: what a caller sent can be long. */
function shorten(text: string, max = 120): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
