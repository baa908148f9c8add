import { z } from 'zod';

/** The `kind` stored in flow JSON by provider-config; stable once released. */
export const providerKindSchema = z.enum(['pixeldojo', 'piapi', 'workers-ai', 'cloudflare', 'sandbox']);
export type ProviderKind = z.infer<typeof providerKindSchema>;

/** A wire format the pack speaks; the sandbox kind serves all of them. */
export type ProviderApi = Exclude<ProviderKind, 'sandbox'>;

export interface ProviderKindInfo {
  label: string;
  /** Empty where the user must give one (a deployed worker) or the pack makes one (sandbox). */
  defaultBaseUrl: string;
  defaultRpm: number;
  defaultConcurrency: number;
  needsApiKey: boolean;
  needsAccountId: boolean;
  needsBaseUrl: boolean;
}

/**
 * Defaults come from the provider documents: PixelDojo 60 requests/min, Workers AI 720/min,
 * PiAPI's free plan 2 concurrent jobs. Where a document is silent the value is conservative.
 */
export const PROVIDER_KIND_INFO: Record<ProviderKind, ProviderKindInfo> = {
  pixeldojo: {
    label: 'PixelDojo',
    defaultBaseUrl: 'https://pixeldojo.ai/api/v1',
    defaultRpm: 60,
    defaultConcurrency: 4,
    needsApiKey: true,
    needsAccountId: false,
    needsBaseUrl: false,
  },
  piapi: {
    label: 'PiAPI',
    defaultBaseUrl: 'https://api.piapi.ai/api/v1',
    defaultRpm: 60,
    defaultConcurrency: 2,
    needsApiKey: true,
    needsAccountId: false,
    needsBaseUrl: false,
  },
  'workers-ai': {
    label: 'Workers AI worker',
    defaultBaseUrl: '',
    defaultRpm: 720,
    defaultConcurrency: 8,
    needsApiKey: false,
    needsAccountId: false,
    needsBaseUrl: true,
  },
  cloudflare: {
    label: 'Cloudflare Workers AI',
    defaultBaseUrl: 'https://api.cloudflare.com/client/v4',
    defaultRpm: 720,
    defaultConcurrency: 8,
    needsApiKey: true,
    needsAccountId: true,
    needsBaseUrl: false,
  },
  sandbox: {
    label: 'Sandbox',
    defaultBaseUrl: '',
    defaultRpm: 600,
    defaultConcurrency: 8,
    needsApiKey: false,
    needsAccountId: false,
    needsBaseUrl: false,
  },
};

/** How each API expects its key: PiAPI in `X-API-Key`, the others as a bearer token. */
export function authHeaders(api: ProviderApi, apiKey: string | undefined): Record<string, string> {
  if (!apiKey) return {};
  return api === 'piapi' ? { 'x-api-key': apiKey } : { authorization: `Bearer ${apiKey}` };
}
