import { NOTICE_EVERY_MS } from '../../nodes/shared/overview';
import type { ProviderConnection } from '../../lib/providers';
import type { SandboxServer } from '../../lib/sandbox';
import { helper, nodeModule } from './node-red';

export type Msg = Record<string, unknown>;

export interface Outcome {
  /** The message the node sent, when it succeeded. */
  out?: Msg;
  /** What a Catch node received, when it failed. */
  error?: { message: string; source?: { id: string } };
}

export interface Harness {
  /** The flow as loaded, for redeploying it changed. */
  flow: Array<Record<string, unknown>>;
  sandbox: SandboxServer;
  connection: ProviderConnection;
  /** Sends `msg` to node `n1` and resolves with its output or the caught error. */
  run(msg: Msg, timeoutMs?: number): Promise<Outcome>;
  /** Every message the node sent and every error caught, in order. */
  outputs: Msg[];
  errors: Outcome['error'][];
}

/** Loads `provider-config` (sandbox kind unless overridden) + the node under test, wired to helpers and a Catch node. */
export async function loadFlow(
  types: string[],
  underTest: Record<string, unknown>,
  options: {
    provider?: Record<string, unknown>;
    credentials?: Record<string, unknown>;
    extra?: Record<string, unknown>[];
    /** Further node modules the extra nodes need (core nodes, test-only nodes). */
    modules?: unknown[];
  } = {},
): Promise<Harness> {
  // Catch nodes catch within their own tab, so everything but the config node sits on tab `f1`;
  // flow nodes carry canvas coordinates, without which Node-RED parses them as config nodes.
  const flow = [
    { id: 'f1', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'provider-config', name: 'test', kind: 'sandbox', ...options.provider },
    { id: 'n1', z: 'f1', provider: 'cfg', wires: [['out']], ...underTest },
    { id: 'out', z: 'f1', type: 'helper' },
    { id: 'catch', z: 'f1', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'f1', type: 'helper' },
    ...(options.extra ?? []).map((node) => ({ z: 'f1', ...node })),
  ].map((node) => ('z' in node ? { x: 100, y: 100, ...node } : node));
  await helper.load(
    [...['provider-config', ...types].map(nodeModule), ...(options.modules ?? [])],
    flow,
    options.credentials ? { cfg: options.credentials } : undefined,
  );
  const connection = helper.getNode('cfg').connection as ProviderConnection;
  const sandbox = connection.kind === 'sandbox' ? await connection.sandbox() : (undefined as unknown as SandboxServer);
  const outputs: Msg[] = [];
  const errors: Outcome['error'][] = [];
  const waiting: Array<(outcome: Outcome) => void> = [];
  helper.getNode('out').on('input', (msg: Msg) => {
    outputs.push(msg);
    waiting.shift()?.({ out: msg });
  });
  helper.getNode('caught').on('input', (msg: Msg) => {
    const error = msg.error as Outcome['error'];
    errors.push(error);
    waiting.shift()?.({ error });
  });
  return {
    flow,
    sandbox,
    connection,
    outputs,
    errors,
    run(msg, timeoutMs = 10_000) {
      return new Promise<Outcome>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no output and no error within ${timeoutMs} ms`)), timeoutMs);
        waiting.push((outcome) => {
          clearTimeout(timer);
          resolve(outcome);
        });
        helper.getNode('n1').receive(msg);
      });
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Node's count of open timers and sockets, to prove a close left none behind. Counted once the
 * sidebar's change notice (sent at most once per NOTICE_EVERY_MS after a status change) has gone
 * out, and a turn later, so a timer whose callback is still returning is not mistaken for a live one.
 */
export async function openHandles(): Promise<Record<string, number>> {
  await sleep(NOTICE_EVERY_MS + 50);
  await new Promise((resolve) => setImmediate(resolve));
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return { Timeout: counts.Timeout ?? 0, TCPSocketWrap: counts.TCPSocketWrap ?? 0 };
}
