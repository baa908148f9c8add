import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { REPO_ROOT, prepareUserDir, spawnNodeRed } from '../../scripts/node-red-home';
import { freshUserDirWithPack, userEnv } from './installed-pack';
import { freePort, waitFor } from './net';

export interface RuntimeAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  json: () => Record<string, unknown>;
}

export interface Runtime {
  base: string;
  port: number;
  userDir: string;
  /** Everything Node-RED printed so far. */
  log: () => string;
  /** A request to Node-RED; a string body is sent as it is, anything else as JSON. */
  call(
    method: 'GET' | 'POST',
    route: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string>; timeoutMs?: number },
  ): Promise<RuntimeAnswer>;
  /** A full deploy of `flow` (without authentication). */
  deploy(flow: unknown[]): Promise<void>;
  /** Presses an inject node's button; its route answers 404 until a fresh deploy has started the flow. */
  press(injectId: string): Promise<void>;
  /** Node-RED's exit code, or null while it runs. */
  exitCode: () => number | null;
  /** Kills Node-RED with SIGKILL (a power cut), keeping its user directory. */
  kill(): Promise<void>;
  /** Stops Node-RED; the user directory is removed unless `keepUserDir` (for a restart test). */
  stop(options?: { keepUserDir?: boolean }): Promise<void>;
}

type FlowNode = Record<string, unknown>;

/**
 * Nodes on the flow tab `tab`, each placed on the canvas (a node without coordinates is read as a
 * config node), one row apart, where they do not say otherwise.
 */
export function onTab(tab: string, nodes: FlowNode[]): FlowNode[] {
  return nodes.map((node, index) => ({ z: tab, x: 200, y: 60 + 60 * index, ...node }));
}

/** An inject node that sends `payload` (a string) and, when given, `topic` to `targets`: pressed with Runtime.press. */
export function injectNode(id: string, payload: string, targets: string[], topic?: string): FlowNode {
  return {
    id,
    type: 'inject',
    props: [{ p: 'payload' }, ...(topic === undefined ? [] : [{ p: 'topic', vt: 'str' }])],
    payload,
    payloadType: 'str',
    ...(topic === undefined ? {} : { topic }),
    repeat: '',
    crontab: '',
    once: false,
    wires: [targets],
  };
}

/** A debug node that prints `complete` ('true' for the whole message) to Node-RED's log, as `[debug:<name>]`, for a test to wait for. */
export function logDebug(id: string, name: string, complete = 'true'): FlowNode {
  return { id, type: 'debug', name, active: true, console: true, tosidebar: false, complete, wires: [] };
}

/** A Catch node for every error on its tab, wired to `target`. */
export function catchAll(id: string, target: string): FlowNode {
  return { id, type: 'catch', scope: null, uncaught: false, wires: [[target]] };
}

/** A local-sd node on the sandbox's tiny generated model, on this machine's CPU. */
export function tinyLocalSd(id: string, params: Record<string, unknown>, targets: string[]): FlowNode {
  return { id, type: 'local-sd', model: 'sandbox-tiny-sd', device: 'cpu', threads: 0, prompt: '', params, wires: [targets] };
}

/** settings.js adminAuth with an `admin` (every permission) and a read-only `viewer`; each password is `pw-<name>`. */
export const ADMIN_AUTH = `adminAuth: {
    type: 'credentials',
    users: (username) => Promise.resolve({ admin: { username: 'admin', permissions: '*' }, viewer: { username: 'viewer', permissions: 'read' } }[username] || null),
    authenticate: (username, password) => Promise.resolve(
      password === 'pw-' + username ? { admin: { username: 'admin', permissions: '*' }, viewer: { username: 'viewer', permissions: 'read' } }[username] || null : null),
  },`;

/** An access token for one of ADMIN_AUTH's users. */
export async function adminToken(runtime: Runtime, username: 'admin' | 'viewer'): Promise<string> {
  const scope = username === 'admin' ? '*' : 'read';
  const answer = await runtime.call('POST', '/auth/token', {
    body: { client_id: 'node-red-admin', grant_type: 'password', scope, username, password: `pw-${username}` },
  });
  assert.equal(answer.status, 200, answer.text);
  return answer.json().access_token as string;
}

/**
 * Starts Node-RED in its own process, the way `npm start` does, in a temporary user directory;
 * `samePort` restarts it where a provider's webhooks still find it.
 */
export async function startRuntime(extraSettings = '', existingUserDir?: string, env?: NodeJS.ProcessEnv, samePort?: number): Promise<Runtime> {
  const userDir = existingUserDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-nr-'));
  const port = samePort ?? (await freePort());
  const settingsFile = prepareUserDir({ userDir, port, extraSettings });
  return watch(spawnNodeRed(userDir, settingsFile, 'pipe', env), port, userDir);
}

/**
 * Starts Node-RED as a user runs it: Node-RED's own default settings (it writes settings.js into the
 * new user directory), only the port chosen, and the pack installed there from its tarball (by default
 * with onnxruntime-node, installed by the command local-sd gives when it is missing).
 */
export async function startInstalledRuntime(options: { onnxruntime?: boolean; userDir?: string } = {}): Promise<Runtime> {
  const userDir = options.userDir ?? (await freshUserDirWithPack({ onnxruntime: options.onnxruntime ?? true }));
  const port = await freePort();
  const redJs = require.resolve('node-red/red.js', { paths: [REPO_ROOT] });
  const child = spawn(process.execPath, [redJs, '--userDir', userDir, '--port', String(port)], {
    cwd: userDir,
    env: userEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watch(child, port, userDir);
}

async function watch(child: ChildProcess, port: number, userDir: string): Promise<Runtime> {
  const base = `http://127.0.0.1:${port}`;
  let log = '';
  child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  await waitFor(() => log.includes('Started flows') || child.exitCode !== null, 45_000, 'Node-RED to start');
  assert.equal(child.exitCode, null, log);
  const runtime: Runtime = {
    base,
    port,
    userDir,
    log: () => log,
    async call(method, route, options = {}) {
      const answer = await request(`${base}${route}`, {
        method,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...options.headers,
        },
        body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
      const body = Buffer.from(await answer.body.arrayBuffer());
      const text = body.toString('utf8');
      return { status: answer.statusCode, headers: answer.headers, body, text, json: () => JSON.parse(text) as Record<string, unknown> };
    },
    async deploy(flow) {
      const answer = await runtime.call('POST', '/flows', { body: flow, headers: { 'node-red-deployment-type': 'full' } });
      assert.equal(answer.status, 204, answer.text);
    },
    async press(injectId) {
      for (const deadline = Date.now() + 10_000; ; await new Promise((resolve) => setTimeout(resolve, 50))) {
        const answer = await runtime.call('POST', `/inject/${injectId}`);
        if (answer.status === 200) return;
        assert.ok(answer.status === 404 && Date.now() < deadline, `inject ${injectId}: ${answer.status} ${answer.text}`);
      }
    },
    exitCode: () => child.exitCode ?? (child.signalCode ? 128 : null),
    async kill() {
      if (child.exitCode !== null || child.signalCode) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
    async stop(options = {}) {
      if (child.exitCode === null && !child.signalCode) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT');
        await exited;
      }
      if (!options.keepUserDir) fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
  return runtime;
}
