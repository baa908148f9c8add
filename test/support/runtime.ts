import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { installSandboxModel, prepareUserDir, spawnNodeRed } from '../../scripts/node-red-home';
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
  userDir: string;
  /** Everything Node-RED printed so far. */
  log: () => string;
  call(method: 'GET' | 'POST', route: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<RuntimeAnswer>;
  /** Stops Node-RED; the user directory is removed unless `keepUserDir` (for a restart test). */
  stop(options?: { keepUserDir?: boolean }): Promise<void>;
}

/** Starts Node-RED in its own process, the way `npm start` does, in a temporary user directory. */
export async function startRuntime(extraSettings = '', existingUserDir?: string, env?: NodeJS.ProcessEnv): Promise<Runtime> {
  const userDir = existingUserDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-nr-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const settingsFile = prepareUserDir({ userDir, port, extraSettings });
  await installSandboxModel(userDir);
  const child: ChildProcess = spawnNodeRed(userDir, settingsFile, 'pipe', env);
  let log = '';
  child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  await waitFor(() => log.includes('Started flows') || child.exitCode !== null, 45_000, 'Node-RED to start');
  assert.equal(child.exitCode, null, log);
  return {
    base,
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
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
      const body = Buffer.from(await answer.body.arrayBuffer());
      const text = body.toString('utf8');
      return { status: answer.statusCode, headers: answer.headers, body, text, json: () => JSON.parse(text) as Record<string, unknown> };
    },
    async stop(options = {}) {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT');
        await exited;
      }
      if (!options.keepUserDir) fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
}
