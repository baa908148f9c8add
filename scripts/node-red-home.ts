import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** The repository root (this file runs from dist/scripts/). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');
const PACKAGE_NAME = 'node-red-contrib-image-gen';

export interface UserDirOptions {
  userDir: string;
  port: number;
  /** Written as flows.json when the user directory has none yet. */
  starterFlows?: unknown[];
  /** Extra settings.js properties, as JavaScript source text (e.g. an adminAuth block). */
  extraSettings?: string;
}

/**
 * Prepares a Node-RED user directory that loads this pack the way an installed one loads:
 * `node_modules/node-red-contrib-image-gen` links to the repository, so Node-RED reads its
 * package.json `node-red.nodes` and finds each node's editor files, icons and examples.
 */
export function prepareUserDir(options: UserDirOptions): string {
  const { userDir } = options;
  fs.mkdirSync(path.join(userDir, 'node_modules'), { recursive: true });
  const link = path.join(userDir, 'node_modules', PACKAGE_NAME);
  fs.rmSync(link, { recursive: true, force: true });
  fs.symlinkSync(REPO_ROOT, link, 'dir');

  const secretFile = path.join(userDir, '.credential-secret');
  if (!fs.existsSync(secretFile)) fs.writeFileSync(secretFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  const flowFile = path.join(userDir, 'flows.json');
  if (options.starterFlows && !fs.existsSync(flowFile)) fs.writeFileSync(flowFile, JSON.stringify(options.starterFlows, null, 2));

  const settingsFile = path.join(userDir, 'settings.js');
  fs.writeFileSync(
    settingsFile,
    `// Written by node-red-contrib-image-gen's npm start; rewritten on every start.
module.exports = {
  uiHost: '127.0.0.1',
  uiPort: ${options.port},
  flowFile: 'flows.json',
  credentialSecret: require('fs').readFileSync(require('path').join(__dirname, '.credential-secret'), 'utf8'),
  editorTheme: { tours: false },
  // This user directory is for trying the pack offline: no update checks, and no consent dialog over the canvas.
  telemetry: { enabled: false },
  logging: { console: { level: 'info', metrics: false, audit: false } },
  ${options.extraSettings ?? ''}
};
`,
  );
  return settingsFile;
}

/** Runs Node-RED from this project's own dependencies against a prepared user directory. */
export function spawnNodeRed(userDir: string, settingsFile: string, stdio: 'inherit' | 'pipe', env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const redJs = require.resolve('node-red/red.js', { paths: [REPO_ROOT] });
  return spawn(process.execPath, [redJs, '--userDir', userDir, '--settings', settingsFile], {
    cwd: REPO_ROOT,
    env,
    stdio: stdio === 'inherit' ? 'inherit' : ['ignore', 'pipe', 'pipe'],
  });
}
