import type { Node } from 'node-red';
import type { ProviderConnection, ProviderCredentials } from '../../lib/providers';

/** A deployed provider-config node, as the nodes that refer to it by `provider` see it. */
export interface ProviderConfigNode extends Node<ProviderCredentials> {
  connection: ProviderConnection;
}
