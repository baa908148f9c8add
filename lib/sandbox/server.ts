import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { request } from 'undici';
import { FaultQueue } from './faults';
import type { FaultRule, SandboxApi, SandboxFault } from './faults';
import { renderJpeg, renderPng } from './images';
import type { JobScript } from './jobs';

export interface SandboxOptions {
  host?: string;
  port?: number;
  /** The key the emulated providers accept (sent by the `sandbox` provider kind). */
  apiKey?: string;
  /** The Cloudflare account id the REST emulator accepts. */
  accountId?: string;
  /** How long an async job takes unless scripted otherwise. */
  jobDurationMs?: number;
  /** Starting credit balance of the emulated PixelDojo account. */
  credits?: number;
  /** Each webhook is delivered this many times (providers may repeat deliveries). */
  webhookRepeats?: number;
  /** Each webhook is delivered this long after the change it reports (a slow provider). */
  webhookDelayMs?: number;
  /** Decides faults injected with a `chance` (a seeded generator makes a chaos run repeatable). */
  random?: () => number;
  /** Each API answers 429 (with Retry-After) to a request beyond this many in the last 60 s; 0 for no limit. */
  ratePerMinute?: number;
}

export const SANDBOX_API_KEY = 'sandbox-key';
export const SANDBOX_ACCOUNT_ID = 'sandbox-account';

export interface RecordedRequest {
  api: SandboxApi | 'unknown';
  method: string;
  /** The path after the API's prefix, with the query string. */
  path: string;
  headers: Record<string, string>;
  /** Parsed JSON when the body was JSON, else the raw text (or undefined when empty). */
  body: unknown;
  receivedAt: number;
  /** The status answered, once the answer is sent (none for a reset or an unfinished answer). */
  status?: number;
  /** The injected fault it got, if any. */
  fault?: SandboxFault['type'];
}

export interface WebhookDelivery {
  url: string;
  body: unknown;
  status?: number;
  error?: string;
}

/** What a route handler gets: the request, its parsed body and the sandbox's shared state. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: string[];
  url: URL;
  raw: Buffer;
  sandbox: SandboxState;
}

export interface Route {
  method: string;
  pattern: RegExp;
  handle(context: RouteContext): void | Promise<void>;
}

export interface SandboxState {
  readonly options: Required<SandboxOptions>;
  readonly origin: string;
  credits: number;
  fileUrl(spec: { seed: number; width: number; height: number; format: 'png' | 'jpg'; tag: string }): string;
  image(spec: { seed: number; width: number; height: number; format: 'png' | 'jpg'; tag: string }): Buffer;
  deliverWebhook(url: string, body: unknown, headers?: Record<string, string>): void;
  /** Where a provider that calls back one URL per account sends its webhooks (set at the provider, as in its dashboard). */
  callbackOf(api: SandboxApi): AccountCallback | undefined;
}

/** A webhook URL set per account at the provider, with the key it sends as `Authorization: Bearer`. */
export interface AccountCallback {
  url: string;
  key?: string;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendBytes(res: ServerResponse, status: number, bytes: Buffer, contentType: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': bytes.length, ...headers });
  res.end(bytes);
}

/** JSON.parse that reports failure as undefined-with-flag instead of throwing. */
export function parseJson(raw: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(raw.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

const MAX_BODY_BYTES = 1024 * 1024;
const IMAGE_CACHE_SIZE = 32;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export interface SandboxMounts {
  prefix: string;
  api: SandboxApi;
  routes: Route[];
  /** The emulator's async jobs, when it has any, so tests can script their outcomes. */
  jobs?: { script(...scripts: JobScript[]): void; ids(): string[]; finishAll(): void };
}

export type EmulatorFactory = (sandbox: SandboxState, closeHooks: Array<() => void>) => SandboxMounts;

/**
 * A loopback HTTP server hosting every provider emulator under its own prefix, with a request
 * log and a fault queue that tests (and curious users) drive.
 */
export class SandboxServer implements SandboxState {
  readonly options: Required<SandboxOptions>;
  readonly requests: RecordedRequest[] = [];
  readonly webhooks: WebhookDelivery[] = [];
  readonly faults: FaultQueue;
  credits: number;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly images = new Map<string, Buffer>();
  private readonly pendingWebhooks = new Set<Promise<void>>();
  private readonly callbacks = new Map<SandboxApi, AccountCallback>();
  /** Accepted requests per API in the last minute, oldest first, for `ratePerMinute`. */
  private readonly recentRequests = new Map<SandboxApi, number[]>();
  private address = '';

  private readonly mounts: SandboxMounts[];
  /** Emulators register cleanup (job timers) here. */
  private readonly closeHooks: Array<() => void> = [];

  constructor(emulators: EmulatorFactory[], options: SandboxOptions = {}) {
    this.options = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      apiKey: options.apiKey ?? SANDBOX_API_KEY,
      accountId: options.accountId ?? SANDBOX_ACCOUNT_ID,
      jobDurationMs: options.jobDurationMs ?? 1500,
      credits: options.credits ?? 1000,
      webhookRepeats: options.webhookRepeats ?? 1,
      webhookDelayMs: options.webhookDelayMs ?? 0,
      random: options.random ?? Math.random,
      ratePerMinute: options.ratePerMinute ?? 0,
    };
    this.credits = this.options.credits;
    this.faults = new FaultQueue(this.options.random);
    this.mounts = emulators.map((create) => create(this, this.closeHooks));
  }

  /** The next async jobs of one emulator end as scripted (outcome, duration), in order. */
  scriptJobs(api: SandboxApi, ...scripts: JobScript[]): void {
    const jobs = this.mounts.find((mount) => mount.api === api)?.jobs;
    if (!jobs) throw new Error(`the ${api} emulator has no async jobs`);
    jobs.script(...scripts);
  }

  /** Ends every running job of an emulator now (their webhooks are not sent again). */
  finishJobs(api: SandboxApi): void {
    const jobs = this.mounts.find((mount) => mount.api === api)?.jobs;
    if (!jobs) throw new Error(`the ${api} emulator has no async jobs`);
    jobs.finishAll();
  }

  /** The ids of the jobs an emulator has created, oldest first. */
  jobIds(api: SandboxApi): string[] {
    return this.mounts.find((mount) => mount.api === api)?.jobs?.ids() ?? [];
  }

  /** Sets the account's webhook URL and callback key at an emulated provider, as its dashboard would. */
  setCallback(api: SandboxApi, callback: AccountCallback | undefined): void {
    if (callback) this.callbacks.set(api, callback);
    else this.callbacks.delete(api);
  }

  callbackOf(api: SandboxApi): AccountCallback | undefined {
    return this.callbacks.get(api);
  }

  get origin(): string {
    return this.address;
  }

  baseUrl(api: SandboxApi): string {
    const mount = this.mounts.find((candidate) => candidate.api === api);
    if (!mount) throw new Error(`the sandbox has no ${api} emulator`);
    return `${this.address}${mount.prefix}`;
  }

  async listen(): Promise<this> {
    const server = createServer((req, res) => void this.dispatch(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    this.server = server;
    const { port } = server.address() as AddressInfo;
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    this.address = `http://${host}:${port}`;
    return this;
  }

  injectFault(rule: FaultRule): void {
    this.faults.add(rule);
  }

  /** Requests received by one emulator, optionally only those whose path starts with `pathPrefix`. */
  requestsTo(api: SandboxApi, method?: string, pathPrefix?: string): RecordedRequest[] {
    return this.requests.filter(
      (entry) =>
        entry.api === api && (method === undefined || entry.method === method.toUpperCase()) && (pathPrefix === undefined || entry.path.startsWith(pathPrefix)),
    );
  }

  fileUrl(spec: { seed: number; width: number; height: number; format: 'png' | 'jpg'; tag: string }): string {
    return `${this.address}/files/${spec.tag}-${spec.seed}-${spec.width}x${spec.height}.${spec.format}`;
  }

  image(spec: { seed: number; width: number; height: number; format: 'png' | 'jpg'; tag: string }): Buffer {
    const key = `${spec.tag}-${spec.seed}-${spec.width}x${spec.height}.${spec.format}`;
    let bytes = this.images.get(key);
    if (!bytes) {
      const render = spec.format === 'png' ? renderPng : renderJpeg;
      bytes = render({ width: spec.width, height: spec.height, seed: spec.seed, prompt: spec.tag });
      if (this.images.size >= IMAGE_CACHE_SIZE) this.images.delete(this.images.keys().next().value as string);
      this.images.set(key, bytes);
    }
    return bytes;
  }

  /** POSTs a webhook, loopback targets only: the sandbox never sends traffic off this machine. */
  deliverWebhook(url: string, body: unknown, headers: Record<string, string> = {}): void {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      this.webhooks.push({ url, body, error: 'invalid URL' });
      return;
    }
    if (!LOOPBACK_HOSTS.has(target.hostname)) {
      this.webhooks.push({ url, body, error: 'the sandbox delivers webhooks to loopback addresses only' });
      return;
    }
    for (let i = 0; i < this.options.webhookRepeats; i++) {
      const delivery: WebhookDelivery = { url, body };
      this.webhooks.push(delivery);
      const sending = delay(this.options.webhookDelayMs)
        .then(() =>
          request(target, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...headers },
            body: JSON.stringify(body),
            headersTimeout: 5000,
            bodyTimeout: 5000,
          }),
        )
        .then(async (answer) => {
          delivery.status = answer.statusCode;
          await answer.body.dump();
        })
        .catch((error: unknown) => {
          delivery.error = error instanceof Error ? error.message : String(error);
        })
        .finally(() => this.pendingWebhooks.delete(sending));
      this.pendingWebhooks.add(sending);
    }
  }

  async close(): Promise<void> {
    this.closeHooks.forEach((hook) => hook());
    await Promise.allSettled([...this.pendingWebhooks]);
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Answers 429 when the API has accepted `ratePerMinute` requests in the last 60 s, as a provider's sliding limit does. */
  private overRate(api: SandboxApi, res: ServerResponse): boolean {
    const limit = this.options.ratePerMinute;
    if (!limit || api === 'files') return false;
    const now = Date.now();
    const recent = this.recentRequests.get(api) ?? [];
    while (recent.length > 0 && now - (recent[0] as number) >= 60_000) recent.shift();
    this.recentRequests.set(api, recent);
    if (recent.length >= limit) {
      const retryAfter = Math.max(1, Math.ceil(((recent[0] as number) + 60_000 - now) / 1000));
      sendJson(res, 429, { error: 'rate limit exceeded' }, { 'retry-after': String(retryAfter) });
      return true;
    }
    recent.push(now);
    return false;
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.address);
    const mount = this.mounts.find((candidate) => url.pathname.startsWith(`${candidate.prefix}/`) || url.pathname === candidate.prefix);
    const method = (req.method ?? 'GET').toUpperCase();
    const subPath = mount ? url.pathname.slice(mount.prefix.length) || '/' : url.pathname;
    let raw: Buffer;
    try {
      raw = await readBody(req);
    } catch {
      sendJson(res, 413, { error: 'request body too large' });
      return;
    }
    const parsed = raw.length > 0 ? parseJson(raw) : undefined;
    const record: RecordedRequest = {
      api: mount?.api ?? 'unknown',
      method,
      path: subPath + url.search,
      headers: Object.fromEntries(Object.entries(req.headers).map(([key, value]) => [key, String(value)])),
      body: parsed === undefined ? undefined : parsed.ok ? parsed.value : raw.toString('utf8'),
      receivedAt: Date.now(),
    };
    this.requests.push(record);
    res.once('finish', () => (record.status = res.statusCode));
    if (!mount) {
      if (url.pathname === '/') sendJson(res, 200, { sandbox: true, apis: this.mounts.map((entry) => this.baseUrl(entry.api)) });
      else sendJson(res, 404, { error: `no sandbox route for ${method} ${url.pathname}` });
      return;
    }
    if (this.overRate(mount.api, res)) return;
    const fault = this.faults.take({ api: mount.api, method, path: subPath });
    if (fault) {
      record.fault = fault.type;
      if (fault.type === 'latency') await new Promise((resolve) => setTimeout(resolve, fault.ms));
      else if (fault.type === 'drip') dribble(res, fault.everyMs);
      else return applyFault(fault, res);
    }
    for (const route of mount.routes) {
      if (route.method !== method) continue;
      const match = route.pattern.exec(subPath);
      if (!match) continue;
      try {
        await route.handle({ req, res, params: match.slice(1).map(decodeURIComponent), url, raw, sandbox: this });
      } catch (error) {
        if (!res.headersSent) sendJson(res, 500, { error: `sandbox fault: ${(error as Error).message}` });
      }
      return;
    }
    sendJson(res, 404, { error: `no ${mount.api} route for ${method} ${subPath}` });
  }
}

/** How many pieces a dripped answer's body is sent in. */
const DRIP_PIECES = 8;

/** Holds what a handler writes, then sends the body in pieces `everyMs` apart. */
function dribble(res: ServerResponse, everyMs: number): void {
  const chunks: Buffer[] = [];
  const write = res.write.bind(res);
  const end = res.end.bind(res);
  const hold = (chunk: unknown): void => {
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
  };
  res.write = ((chunk: unknown) => {
    hold(chunk);
    return true;
  }) as ServerResponse['write'];
  res.end = ((chunk?: unknown) => {
    hold(chunk);
    const body = Buffer.concat(chunks);
    const size = Math.max(1, Math.ceil(body.length / DRIP_PIECES));
    void (async () => {
      for (let offset = 0; offset < body.length && !res.destroyed; offset += size) {
        write(body.subarray(offset, offset + size));
        await delay(everyMs);
      }
      if (!res.destroyed) end();
    })();
    return res;
  }) as ServerResponse['end'];
}

function applyFault(fault: Exclude<FaultRule['fault'], { type: 'latency' | 'drip' }>, res: ServerResponse): void {
  switch (fault.type) {
    case 'status': {
      const headers: Record<string, string> = {};
      if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
      if (fault.rateLimitReset !== undefined) headers['x-ratelimit-reset'] = fault.rateLimitReset;
      sendJson(res, fault.status, fault.body ?? { error: `sandbox fault: HTTP ${fault.status}` }, headers);
      return;
    }
    case 'reset':
      res.socket?.destroy();
      return;
    case 'malformed':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"images": ["http://trunc');
      return;
    case 'wrong-shape':
      sendJson(res, 200, { ok: true, note: 'sandbox fault: a success answer in a shape no endpoint gives' });
      return;
    case 'hang':
      return;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.pause();
        reject(new Error('too large'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
