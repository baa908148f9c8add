import { z } from 'zod';
import { parameterSchemaOf } from '../editor/node-settings';
import type { EditorSchema } from '../editor/node-settings';
import type { EditorMetadata, ProviderAdapter, ProviderInfo } from './adapter';
import { bflAdapter } from './bfl';
import { cloudflareAdapter, workerAdapter } from './cloudflare';
import { leonardoAdapter } from './leonardo';
import { piapiAdapter } from './piapi';
import { pixeldojoAdapter } from './pixeldojo';
import { visioncraftAdapter } from './visioncraft';

/** Every provider the pack speaks, by the `kind` a provider config stores (stable once released). */
export const PROVIDER_ADAPTERS = {
  pixeldojo: pixeldojoAdapter,
  piapi: piapiAdapter,
  'workers-ai': workerAdapter,
  cloudflare: cloudflareAdapter,
  leonardo: leonardoAdapter,
  bfl: bflAdapter,
  visioncraft: visioncraftAdapter,
} as const satisfies Record<string, ProviderAdapter<never>>;

/** A wire format the pack speaks; the sandbox kind serves all of them. */
export type ProviderApi = keyof typeof PROVIDER_ADAPTERS;
export const PROVIDER_APIS = Object.keys(PROVIDER_ADAPTERS) as [ProviderApi, ...ProviderApi[]];

export const providerKindSchema = z.enum([...PROVIDER_APIS, 'sandbox']);
export type ProviderKind = z.infer<typeof providerKindSchema>;

const SANDBOX_INFO: ProviderInfo = {
  label: 'Sandbox',
  defaultBaseUrl: '',
  defaultRpm: 600,
  defaultConcurrency: 8,
  needsApiKey: false,
  needsAccountId: false,
  needsBaseUrl: false,
};

/** Defaults per kind, from each adapter (the provider documents; conservative where they are silent). */
export const PROVIDER_KIND_INFO: Record<ProviderKind, ProviderInfo> = {
  ...(Object.fromEntries(PROVIDER_APIS.map((api) => [api, PROVIDER_ADAPTERS[api].info])) as Record<ProviderApi, ProviderInfo>),
  sandbox: SANDBOX_INFO,
};

export function isProviderApi(value: string): value is ProviderApi {
  return Object.hasOwn(PROVIDER_ADAPTERS, value);
}

/** The adapter of an API, typed loosely: callers pass the options their node settings give. */
export function adapterOf(api: ProviderApi): ProviderAdapter<never> {
  return PROVIDER_ADAPTERS[api];
}

/** What the editor shows per provider kind (RED.settings.providerConfigProviders): defaults, models and prices, nothing secret. */
export function providersForEditor(): Record<ProviderKind, EditorProvider> {
  const entries = PROVIDER_APIS.map((api): [ProviderApi, EditorProvider] => {
    const adapter: ProviderAdapter<never> = PROVIDER_ADAPTERS[api];
    const parameters = Object.fromEntries(
      Object.entries(adapter.editor.parameters).map(([key, { schema, filledByNode }]) => [key, parameterSchemaOf(schema, filledByNode)]),
    );
    return [api, { ...adapter.info, ...adapter.editor, parameters, webhookKey: Boolean(adapter.webhook?.jobSecret) }];
  });
  return { ...(Object.fromEntries(entries) as Record<ProviderApi, EditorProvider>), sandbox: { ...SANDBOX_INFO, webhookKey: true } };
}

/** A provider kind as its dialogs show it; `webhookKey`: its callbacks are signed with a key per account, kept in the config. */
export type EditorProvider = ProviderInfo & Partial<Omit<EditorMetadata, 'parameters'>> & { parameters?: Record<string, EditorSchema>; webhookKey: boolean };
