import { createServer } from 'node:http';
import type { RequestListener, Server } from 'node:http';
import type { NodeAPI } from 'node-red';

let captured: RequestListener | undefined;

/**
 * A node module for the test helper that captures the runtime's `RED.httpNode` app: the helper
 * builds one per load but serves only the admin app, and webhook tests need real HTTP to it.
 */
export function httpNodeCapture(RED: NodeAPI): void {
  RED.nodes.registerType('http-node-capture', function (this: never, def: never) {
    RED.nodes.createNode(this, def);
    captured = RED.httpNode as unknown as RequestListener;
  });
}

/** Serves the captured httpNode app on `port` (chosen before the flow that names it was loaded). */
export async function serveHttpNode(port: number): Promise<{ url: string; close(): Promise<void> }> {
  const app = captured;
  if (!app) throw new Error('load a http-node-capture node first');
  const server: Server = createServer((req, res) => app(req, res));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
