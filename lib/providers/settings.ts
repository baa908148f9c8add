import { z } from 'zod';
import { optionalAmount, optionalHttpUrl, optionalInteger } from '../editor/node-settings';
import { PROVIDER_KIND_INFO, providerKindSchema } from './kinds';

/** A URL without its trailing slashes, so paths join to it alike. */
const baseUrl = optionalHttpUrl.transform((value) => (value ?? '').replace(/\/+$/, ''));

/** provider-config's flow JSON properties (DESIGN.md), as the editor stores them. */
export const providerConfigSchema = z.object({
  kind: providerKindSchema,
  baseUrl,
  rpm: optionalInteger(1, 100_000),
  concurrency: optionalInteger(1, 100_000),
  timeout: optionalInteger(1_000, 3_600_000),
  webhookBaseUrl: baseUrl,
  /** Seconds a job completing by webhook waits before polling starts as well. */
  webhookGrace: optionalInteger(0, 86_400),
  /** Spending limit per UTC day, in the provider's unit (credits for PixelDojo, USD otherwise); empty for none. */
  budget: optionalAmount(0, 1_000_000_000),
});

export const providerCredentialsSchema = z.object({
  apiKey: z.string().trim().optional(),
  accountId: z.string().trim().optional(),
  /** The key a provider sends with its callbacks, where it signs them per account (Leonardo's webhook callback key). */
  webhookKey: z.string().trim().optional(),
});

export type ProviderConfigInput = z.input<typeof providerConfigSchema>;
export type ProviderCredentials = z.infer<typeof providerCredentialsSchema>;

export interface ResolvedProviderConfig {
  kind: z.infer<typeof providerKindSchema>;
  baseUrl: string;
  rpm: number;
  concurrency: number;
  timeout: number;
  webhookBaseUrl: string;
  webhookGraceMs: number;
  budget?: number;
  apiKey?: string;
  accountId?: string;
  webhookKey?: string;
}

export const DEFAULT_TIMEOUT_MS = 120_000;
export const DEFAULT_WEBHOOK_GRACE_S = 60;

/**
 * Validates a config and fills in the kind's defaults. Returns the problems (never throws) so a
 * config node with a typo still loads and reports what to fix when it is used.
 */
export function resolveProviderConfig(config: unknown, credentials: unknown): { ok: true; value: ResolvedProviderConfig } | { ok: false; problems: string[] } {
  const parsed = providerConfigSchema.safeParse(config);
  const secrets = providerCredentialsSchema.safeParse(credentials ?? {});
  if (!parsed.success || !secrets.success) {
    const issues = [...(parsed.error?.issues ?? []), ...(secrets.error?.issues ?? [])];
    return { ok: false, problems: issues.map((issue) => `${issue.path.join('.') || 'config'}: ${issue.message}`) };
  }
  const info = PROVIDER_KIND_INFO[parsed.data.kind];
  const value: ResolvedProviderConfig = {
    kind: parsed.data.kind,
    baseUrl: parsed.data.baseUrl || info.defaultBaseUrl,
    rpm: parsed.data.rpm || info.defaultRpm,
    concurrency: parsed.data.concurrency || info.defaultConcurrency,
    timeout: parsed.data.timeout || DEFAULT_TIMEOUT_MS,
    webhookBaseUrl: parsed.data.webhookBaseUrl,
    webhookGraceMs: (parsed.data.webhookGrace === '' || parsed.data.webhookGrace === undefined ? DEFAULT_WEBHOOK_GRACE_S : parsed.data.webhookGrace) * 1000,
    budget: parsed.data.budget === '' ? undefined : parsed.data.budget,
    apiKey: secrets.data.apiKey || undefined,
    accountId: secrets.data.accountId || undefined,
    webhookKey: secrets.data.webhookKey || undefined,
  };
  const problems: string[] = [];
  if (info.needsApiKey && !value.apiKey) problems.push(`a ${info.label} API key is required: paste it into the provider config`);
  if (info.needsAccountId && !value.accountId) problems.push('a Cloudflare account id is required');
  if (info.needsBaseUrl && !value.baseUrl) problems.push(`the ${info.label} needs its URL as the base URL`);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value };
}
