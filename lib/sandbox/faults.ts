import type { ProviderApi } from '../providers/kinds';

/** Each provider's emulator, and the image files they link to. */
export type SandboxApi = ProviderApi | 'files';

/** Something the sandbox does instead of answering normally. */
export type SandboxFault =
  | { type: 'latency'; ms: number }
  /** An error status, e.g. 429 with Retry-After, or a 5xx; `body` replaces the provider's error body. */
  | { type: 'status'; status: number; retryAfter?: string; rateLimitReset?: string; body?: unknown }
  /** The connection is destroyed without an answer. */
  | { type: 'reset' }
  /** HTTP 200 whose body is not valid JSON. */
  | { type: 'malformed' }
  /** HTTP 200 with valid JSON that is not what the endpoint answers. */
  | { type: 'wrong-shape' }
  /** The normal answer, its body sent in small pieces `everyMs` apart (a slow network or provider). */
  | { type: 'drip'; everyMs: number }
  /** Never answers; only the client's timeout or abort ends the request. */
  | { type: 'hang' };

export interface FaultRule {
  api?: SandboxApi;
  method?: string;
  /** Matches when the path (after the API's prefix) contains this text or matches this pattern. */
  path?: string | RegExp;
  fault: SandboxFault;
  /** How many matching requests it applies to (default 1; unlimited with `chance`). */
  times?: number;
  /** Applies to each matching request with this probability (0 to 1), instead of to the next ones. */
  chance?: number;
}

export interface FaultTarget {
  api: SandboxApi;
  method: string;
  path: string;
}

/** Faults waiting to be applied, consumed first-in first-out per matching request. */
export class FaultQueue {
  private readonly rules: Array<FaultRule & { remaining: number }> = [];

  /** `random` decides `chance` rules: a seeded generator makes a chaos run repeatable. */
  constructor(private readonly random: () => number = Math.random) {}

  add(rule: FaultRule): void {
    this.rules.push({ ...rule, remaining: rule.times ?? (rule.chance === undefined ? 1 : Infinity) });
  }

  clear(): void {
    this.rules.length = 0;
  }

  take(target: FaultTarget): SandboxFault | undefined {
    const index = this.rules.findIndex((rule) => matches(rule, target) && (rule.chance === undefined || this.random() < rule.chance));
    if (index < 0) return undefined;
    const rule = this.rules[index];
    if (--rule.remaining <= 0) this.rules.splice(index, 1);
    return rule.fault;
  }
}

function matches(rule: FaultRule, target: FaultTarget): boolean {
  if (rule.api && rule.api !== target.api) return false;
  if (rule.method && rule.method.toUpperCase() !== target.method) return false;
  if (rule.path instanceof RegExp) return rule.path.test(target.path);
  if (typeof rule.path === 'string') return target.path.includes(rule.path);
  return true;
}
