import type { Node, NodeAPI } from 'node-red';
import { ProviderConfigError } from '../../lib/providers';
import type { ProviderConnection, ProviderCredentials } from '../../lib/providers';

/** A deployed provider-config node, as the nodes that refer to it by `provider` see it. */
export interface ProviderConfigNode extends Node<ProviderCredentials> {
  connection: ProviderConnection;
}

/** The connection of the provider config a node refers to, or a clear error when there is none. */
export function connectionFor(RED: NodeAPI, providerId: string | undefined): ProviderConnection {
  const config = providerId ? (RED.nodes.getNode(providerId) as ProviderConfigNode | null) : null;
  if (!config?.connection) {
    throw new ProviderConfigError('no provider config is selected: open the node and choose or add one in "Provider"');
  }
  return config.connection;
}

/** Where this Node-RED serves `http in` routes on loopback, from its settings; undefined where it serves none. */
export function loopbackNodeUrl(RED: NodeAPI): string | undefined {
  const settings = RED.settings as unknown as { uiPort?: number | string; uiHost?: string; httpNodeRoot?: string | false; https?: unknown };
  if (!settings.uiPort || settings.httpNodeRoot === false) return undefined;
  const wildcard = !settings.uiHost || settings.uiHost === '0.0.0.0' || settings.uiHost === '::';
  const host = wildcard ? '127.0.0.1' : settings.uiHost!.includes(':') ? `[${settings.uiHost}]` : settings.uiHost;
  const root = (settings.httpNodeRoot || '/').replace(/\/+$/, '');
  return `${settings.https ? 'https' : 'http'}://${host}:${settings.uiPort}${root}`;
}
