import { helper } from './node-red';
import { loadFlow } from './flow';
import type { Harness } from './flow';
import { httpNodeCapture, serveHttpNode } from './http-node';
import { freePort } from './net';

const httpIn = require('@node-red/nodes/core/network/21-httpin.js') as unknown;

export const HOOK_PATH = '/image-gen/webhook';

export interface Served {
  harness: Harness;
  /** Where the runtime's httpNode is served: the provider config's webhook URL. */
  url: string;
  close(): Promise<void>;
}

/**
 * Loads `underTest` as n1 with a job-webhook node (its orphans go to helper `orphans`), an `http in`
 * route /gen wired to it, and the runtime's httpNode served on the port the provider config's
 * webhook URL names.
 */
export async function serveWithWebhook(
  underTest: Record<string, unknown>,
  provider: Record<string, unknown>,
  types: string[],
  extra: Record<string, unknown>[] = [],
  credentials?: Record<string, unknown>,
): Promise<Served> {
  const port = await freePort();
  const harness = await loadFlow(
    [...types, 'job-webhook'],
    { wires: [['out', 'answer']], ...underTest },
    {
      provider: { webhookBaseUrl: `http://127.0.0.1:${port}`, webhookGrace: '30', ...provider },
      credentials,
      extra: [
        { id: 'hook', type: 'job-webhook', path: HOOK_PATH, wires: [['orphans']] },
        { id: 'orphans', type: 'helper' },
        { id: 'capture', type: 'http-node-capture' },
        { id: 'in', type: 'http in', url: '/gen', method: 'post', wires: [['n1']] },
        { id: 'answer', type: 'http response', statusCode: '', headers: {} },
        ...extra,
      ],
      modules: [httpIn, httpNodeCapture],
    },
  );
  const server = await serveHttpNode(port);
  return { harness, url: server.url, close: server.close };
}

/**
 * The hooks of a suite that loads flows and serves some of them with a job-webhook: the test helper's
 * server around the suite, and after each test whatever was served closed (once) and the flow unloaded.
 * Answers serveWithWebhook, keeping what it serves to close.
 */
export function webhookSuite(): typeof serveWithWebhook {
  const served: Served[] = [];
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    await Promise.all(served.splice(0).map((entry) => entry.close()));
    await helper.unload();
  });
  return async (...args) => {
    const entry = await serveWithWebhook(...args);
    let closing: Promise<void> | undefined;
    const tracked = { ...entry, close: () => (closing ??= entry.close()) };
    served.push(tracked);
    return tracked;
  };
}
