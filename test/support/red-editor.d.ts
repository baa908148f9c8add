/** The parts of the Node-RED editor's global `RED` that the browser test calls inside the page. */
declare const RED: {
  nodes: { eachConfig(callback: (config: { type: string; id: string }) => void): void; node(id: string): unknown; workspace(id: string): unknown };
  workspaces: { show(id: string): void; active(): string };
  settings: { version: string };
  view: { importNodes(nodes: unknown, options?: { touchImport?: boolean }): void };
  actions: { invoke(action: string): void };
  sidebar: { help: { show(type: string): void } };
};
