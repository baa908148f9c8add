// The helper ships no types; these cover what the tests use.
declare module 'node-red-node-test-helper' {
  interface AdminRequest extends PromiseLike<{ status: number; body: unknown; text: string }> {
    send(body: unknown): AdminRequest;
    set(header: string, value: string): AdminRequest;
  }

  /** A live Node-RED node: its runtime API plus whatever the node's constructor added. */
  interface LiveNode {
    id: string;
    credentials: Record<string, string | undefined>;
    on(event: string, listener: (...args: never[]) => void): void;
    removeListener(event: string, listener: (...args: never[]) => void): void;
    receive(msg: Record<string, unknown>): void;
    warn: { called: boolean; args: unknown[][] };
    error: { called: boolean; args: unknown[][] };
    [property: string]: unknown;
  }

  interface Helper {
    /** The runtime's event bus (internal): RED.comms.publish emits `comms` on it. */
    _events: {
      on(event: string, listener: (event: { topic: string; data: unknown }) => void): void;
      off(event: string, listener: (event: { topic: string; data: unknown }) => void): void;
    };
    init(runtimePath: string, userSettings?: Record<string, unknown>): void;
    /** Merges settings into the runtime's (e.g. a userDir for the job journal). */
    settings(userSettings: Record<string, unknown>): Record<string, unknown>;
    load(nodes: unknown, flow: unknown[], credentials?: Record<string, unknown>): Promise<void>;
    unload(): Promise<void>;
    getNode(id: string): LiveNode;
    setFlows(flow: unknown[], type?: 'full' | 'flows' | 'nodes', credentials?: Record<string, unknown>): Promise<void>;
    startServer(): Promise<void>;
    stopServer(): Promise<void>;
    request(): { get(url: string): AdminRequest; post(url: string): AdminRequest };
    /** A spy on the runtime log: each call's first argument is `{level, msg, ...}`. */
    log(): { args: unknown[][] };
  }
  const helper: Helper;
  export = helper;
}
