import { ConcurrencyLimiter, HttpClient, ProviderError, RateLimiter, redact } from '../http';
import type { RetryNotice, RetryPolicy } from '../http';
import type { SandboxServer } from '../sandbox';
import type { SubmitContext } from './adapter';
import { PROVIDER_KIND_INFO, adapterOf, isProviderApi } from './kinds';
import type { ProviderApi, ProviderKind } from './kinds';
import { CreditBudget } from './budget';
import { DEFAULT_WEBHOOK_GRACE_S, resolveProviderConfig } from './settings';
import type { ResolvedProviderConfig } from './settings';

/** A provider config that cannot be used as it stands; the message says what to change. */
export class ProviderConfigError extends Error {
  readonly statusKey = 'badConfig';
  constructor(message: string) {
    super(message);
    this.name = 'ProviderConfigError';
  }
}

/** Calls allowed to wait for a limiter before new ones are refused. */
const MAX_WAITING = 1_000;
/** A minute plus a margin, so network jitter cannot push a provider's own count over its per-minute limit. */
const RATE_WINDOW_MS = 61_000;

export interface ConnectionOptions {
  /** Shown in errors, e.g. the config node's name. */
  name: string;
  config: unknown;
  credentials: unknown;
  retry?: Partial<RetryPolicy>;
  onRetry?: (notice: RetryNotice) => void;
  /** Where the day's spending is kept across restarts (in the user directory); in memory only without it. */
  budgetFile?: string;
  /** Where this Node-RED serves its node routes on loopback: the sandbox's webhook address when none is configured. */
  loopbackNodeUrl?: string;
}

export interface AccessReport {
  ok: boolean;
  message: string;
}

/**
 * Everything a provider config owns at run time: its validated settings, one HTTP client per API
 * it serves, and the rate and concurrency limiters every node using it shares.
 */
export class ProviderConnection {
  readonly kind?: ProviderKind;
  readonly settings?: ResolvedProviderConfig;
  readonly rateLimiter: RateLimiter;
  readonly concurrency: ConcurrencyLimiter;
  /** Spending per UTC day, checked before every paid submit through this config. */
  readonly budget: CreditBudget;
  private readonly problems: string[];
  private readonly clients = new Map<ProviderApi, Promise<HttpClient>>();
  private sandboxStart?: Promise<SandboxServer>;
  private closed = false;
  private readonly lifetime = new AbortController();

  constructor(private readonly options: ConnectionOptions) {
    const resolved = resolveProviderConfig(options.config, options.credentials);
    this.problems = resolved.ok ? [] : resolved.problems;
    if (resolved.ok) {
      this.settings = resolved.value;
      this.kind = resolved.value.kind;
    }
    const label = this.label;
    this.rateLimiter = new RateLimiter({ limit: this.settings?.rpm ?? 1, windowMs: RATE_WINDOW_MS, maxWaiting: MAX_WAITING, name: label });
    this.concurrency = new ConcurrencyLimiter({ max: this.settings?.concurrency ?? 1, maxWaiting: MAX_WAITING, name: label });
    this.budget = new CreditBudget(this.settings?.budget, label, options.budgetFile);
  }

  /** "PixelDojo (my config)": names the provider and the config node in messages. */
  get label(): string {
    const kind = this.settings ? PROVIDER_KIND_INFO[this.settings.kind].label : 'provider';
    return this.options.name ? `${kind} (${this.options.name})` : kind;
  }

  /** The config's problems, or undefined when it is usable. */
  get problem(): string | undefined {
    return this.problems.length > 0 ? `provider config "${this.options.name}": ${this.problems.join('; ')}` : undefined;
  }

  /** Whether this config can serve a node speaking `api` (the sandbox serves every API). */
  serves(api: ProviderApi): boolean {
    return this.kind === api || this.kind === 'sandbox';
  }

  /**
   * Which of a node's APIs this config speaks: its own kind when that is one of them, else
   * `preferred` (the sandbox speaks them all, so the node's setting picks), else the first.
   */
  apiFor(candidates: readonly ProviderApi[], preferred: ProviderApi): ProviderApi {
    if (this.kind && this.kind !== 'sandbox' && candidates.includes(this.kind)) return this.kind;
    return this.kind === 'sandbox' ? preferred : (candidates[0] as ProviderApi);
  }

  /** Whether this config's providers are the sandbox's emulators: nothing it sends costs anything. */
  get simulated(): boolean {
    return this.kind === 'sandbox';
  }

  /** What an adapter needs to build and send a request through this config to `api`. */
  async submitContext(api: ProviderApi, signal?: AbortSignal): Promise<SubmitContext> {
    const client = await this.client(api);
    const accountId = this.kind === 'sandbox' ? (await this.sandbox()).options.accountId : this.settings?.accountId;
    return { client, accountId, signal, priced: this.budget.limit !== undefined };
  }

  /** The HTTP client for one API, built once; fails with a clear message when the config is unusable. */
  client(api: ProviderApi): Promise<HttpClient> {
    if (this.closed) return Promise.reject(new ProviderConfigError(`provider config "${this.options.name}" was closed`));
    const problem = this.problem;
    if (problem) return Promise.reject(new ProviderConfigError(problem));
    if (!this.serves(api)) {
      return Promise.reject(
        new ProviderConfigError(
          `this node needs a ${PROVIDER_KIND_INFO[api].label} provider config, but "${this.options.name}" is ${PROVIDER_KIND_INFO[this.kind as ProviderKind].label}`,
        ),
      );
    }
    let client = this.clients.get(api);
    if (!client) {
      client = this.createClient(api);
      this.clients.set(api, client);
    }
    return client;
  }

  /**
   * Base URL providers should call back (webhooks); empty when none is configured. The sandbox runs
   * inside this Node-RED, so without a configured URL it calls back over loopback, whatever the port.
   */
  get webhookBaseUrl(): string {
    const configured = this.settings?.webhookBaseUrl ?? '';
    return configured || (this.kind === 'sandbox' ? (this.options.loopbackNodeUrl ?? '') : '');
  }

  /** The key the provider sends with its callbacks, where it signs them per account; undefined when none is configured. */
  get webhookKey(): string | undefined {
    return this.settings?.webhookKey;
  }

  /** What never leaves this config in a message, a log line or an error. */
  private get secrets(): string[] {
    return [this.settings?.apiKey, this.settings?.accountId, this.settings?.webhookKey].filter((secret): secret is string => Boolean(secret));
  }

  /** How long a job completing by webhook waits before polling starts as well. */
  get webhookGraceMs(): number {
    return this.settings?.webhookGraceMs ?? DEFAULT_WEBHOOK_GRACE_S * 1000;
  }

  /** The running sandbox, for a `sandbox` config (started on first use). */
  sandbox(): Promise<SandboxServer> {
    if (this.kind !== 'sandbox') return Promise.reject(new ProviderConfigError(`provider config "${this.options.name}" is not a sandbox`));
    this.sandboxStart ??= import('../sandbox').then(({ startSandbox }) => startSandbox());
    return this.sandboxStart;
  }

  /** Tries the credentials with a request that costs nothing, and says what is wrong. */
  async testAccess(signal?: AbortSignal): Promise<AccessReport> {
    const problem = this.problem;
    if (problem) return { ok: false, message: problem };
    const kind = this.kind as ProviderKind;
    try {
      if (!isProviderApi(kind)) return { ok: true, message: `the sandbox is running at ${(await this.sandbox()).origin}; no credits are spent` };
      return { ok: true, message: await adapterOf(kind).checkAccess(await this.submitContext(kind, signal)) };
    } catch (error) {
      return { ok: false, message: this.explain(error) };
    }
  }

  /** Aborted when the config closes (a full deploy, a restart, its removal): what is held for it lets go. */
  get closing(): AbortSignal {
    return this.lifetime.signal;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.lifetime.abort();
    this.rateLimiter.close();
    this.concurrency.close();
    const clients = await Promise.allSettled([...this.clients.values()]);
    this.clients.clear();
    await Promise.allSettled(clients.map((result) => (result.status === 'fulfilled' ? result.value.close() : undefined)));
    await this.budget.flushed();
    if (this.sandboxStart) await (await this.sandboxStart).close();
  }

  private async createClient(api: ProviderApi): Promise<HttpClient> {
    const settings = this.settings as ResolvedProviderConfig;
    const sandbox = settings.kind === 'sandbox' ? await this.sandbox() : undefined;
    const apiKey = sandbox ? sandbox.options.apiKey : settings.apiKey;
    return new HttpClient({
      provider: this.label,
      baseUrl: sandbox ? sandbox.baseUrl(api) : settings.baseUrl,
      authHeaders: adapterOf(api).authHeaders(apiKey),
      secrets: this.secrets,
      timeoutMs: settings.timeout,
      rateLimiter: this.rateLimiter,
      retry: this.options.retry,
      decodeError: adapterOf(api).decodeError,
      onRetry: this.options.onRetry,
    });
  }

  /** Turns a failed check into advice: unreachable, key refused, wrong account, or what the provider said. */
  private explain(error: unknown): string {
    if (!(error instanceof ProviderError)) {
      return redact(error instanceof Error ? error.message : String(error), this.secrets);
    }
    if (error.kind === 'network' || error.kind === 'timeout') return `unreachable: ${error.message}`;
    if (error.status === 401 || error.code === '1200' || error.code === '10000') return `the key was refused: ${error.message}`;
    if (error.code === '7003') return `wrong account: ${error.message}`;
    return error.message;
  }
}
