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
