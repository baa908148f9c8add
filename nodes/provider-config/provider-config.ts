import path from 'node:path';
import type { NodeAPI, NodeDef } from 'node-red';
import { ProviderConnection, providersForEditor } from '../../lib/providers';
import { providerConfigSchema } from '../../lib/providers/settings';
import type { ProviderCredentials } from '../../lib/providers';
import { loopbackNodeUrl } from '../shared/provider';
import type { ProviderConfigNode } from '../shared/provider';
import { editorSettingsFor } from '../shared/settings';
import { AdminError } from '../../lib/editor/admin';
import { adminRoute } from '../shared/admin';

interface ProviderConfigDef extends NodeDef {
  kind: string;
  baseUrl: string;
  rpm: string | number;
  concurrency: string | number;
  timeout: string | number;
  webhookBaseUrl: string;
  webhookGrace: string | number;
  budget: string | number;
}

/** The editor sends this in place of a password it has not changed. */
const UNCHANGED_PASSWORD = '__PWRD__';

function configOf(def: Partial<ProviderConfigDef>): Record<string, unknown> {
  const { kind, baseUrl, rpm, concurrency, timeout, webhookBaseUrl, webhookGrace, budget } = def;
  return { kind, baseUrl, rpm, concurrency, timeout, webhookBaseUrl, webhookGrace, budget };
}

export = function register(RED: NodeAPI): void {
  function ProviderConfig(this: ProviderConfigNode, def: ProviderConfigDef): void {
    RED.nodes.createNode(this, def);
    this.connection = new ProviderConnection({
      name: def.name || def.id,
      config: configOf(def),
      credentials: this.credentials,
      onRetry: (notice) => this.debug(`retry ${notice.attempt} in ${notice.delayMs} ms: ${notice.reason}`),
      // Today's spending outlives a restart; without a user directory it is kept in memory only.
      budgetFile: RED.settings.userDir ? path.join(RED.settings.userDir, 'image-gen-spend', `${def.id.replace(/[^\w-]/g, '_')}.jsonl`) : undefined,
      loopbackNodeUrl: loopbackNodeUrl(RED),
    });
    const problem = this.connection.problem;
    if (problem) this.warn(problem);
    this.on('close', (_removed: boolean, done: () => void) => {
      this.connection.close().then(done, done);
    });
  }

  RED.nodes.registerType<ProviderConfigNode, ProviderConfigDef, unknown, ProviderCredentials>('provider-config', ProviderConfig, {
    credentials: { apiKey: { type: 'password' }, accountId: { type: 'text' }, webhookKey: { type: 'password' } },
    settings: {
      ...editorSettingsFor('provider-config', providerConfigSchema),
      // The kinds, their defaults, models and prices, from the adapters: the dialogs keep no copies.
      providerConfigProviders: { value: providersForEditor(), exportable: true },
    },
  });

  // The config's spending today against its budget, per job (the editor shows it; flows can GET it).
  adminRoute(RED, 'get', '/image-gen/provider-config/:id/status', 'provider-config.read', (req) => {
    const node = RED.nodes.getNode(String(req.params.id)) as ProviderConfigNode | null;
    if (!node?.connection) throw new AdminError(404, 'NOT_FOUND', 'no deployed provider config has this id');
    return { name: node.connection.label, simulated: node.connection.simulated, budget: node.connection.budget.report() };
  });

  // Tests the settings in the edit dialog (saved or not) with a request that costs nothing.
  adminRoute(RED, 'post', '/image-gen/provider-config/test', 'provider-config.write', async (req) => {
    const body = (req.body ?? {}) as Partial<ProviderConfigDef> & ProviderCredentials;
    const stored = (body.id ? RED.nodes.getCredentials(body.id) : undefined) as ProviderCredentials | undefined;
    const fromStore = (field: keyof ProviderCredentials): boolean => body[field] === undefined || body[field] === UNCHANGED_PASSWORD;
    const pick = (field: keyof ProviderCredentials): string | undefined => (fromStore(field) ? stored?.[field] : body[field]);
    const connection = new ProviderConnection({
      name: body.name || 'unsaved',
      config: configOf(body),
      credentials: { apiKey: pick('apiKey'), accountId: pick('accountId'), webhookKey: pick('webhookKey') },
    });
    // A stored key goes only where the saved config sends it: the dialog's base URL could be anyone's.
    const usesStored = (['apiKey', 'accountId'] as const).some((field) => fromStore(field) && Boolean(stored?.[field]));
    const saved = body.id ? (RED.nodes.getNode(body.id) as ProviderConfigNode | null)?.connection : undefined;
    try {
      if (usesStored && connection.settings && (connection.kind !== saved?.kind || connection.settings.baseUrl !== saved?.settings?.baseUrl)) {
        return {
          ok: false,
          message: 'the saved key is sent only to the saved provider and base URL: deploy the change first, or type the key again to test it here',
        };
      }
      return await connection.testAccess(AbortSignal.timeout(30_000));
    } finally {
      void connection.close();
    }
  });
};
