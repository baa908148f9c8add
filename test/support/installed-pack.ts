import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ONNXRUNTIME_CPU_INSTALL } from '../../lib/local/runner-protocol';
import { REPO_ROOT } from '../../scripts/node-red-home';

const run = promisify(execFile);

/** What Node-RED writes as a new user directory's package.json, which the palette manager installs into. */
const NODE_RED_PROJECT = { name: 'node-red-project', description: 'A Node-RED Project', version: '0.0.1', private: true };

/**
 * The environment of a command run by a user, not by `npm test`: npm passes its own config to scripts as
 * npm_* variables, which a nested npm would take as its own, and puts node_modules/.bin first on PATH.
 */
export function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  env.PATH = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => !dir.includes(`node_modules${path.sep}.bin`))
    .join(path.delimiter);
  return { ...env, ...extra };
}

export interface PackedPack {
  /** The tarball `npm pack` made from the built tree. */
  tarball: string;
  /** What `npm pack` printed on stderr (its notices and any warning). */
  packLog: string;
}

export interface InstalledPack {
  /** A Node-RED user directory with the pack installed from the tarball, as the palette manager installs it. */
  userDir: string;
  /** What the installs printed. */
  installLog: string;
}

/**
 * The npm that Node-RED's palette manager runs (its own dependency, npm 10 today). npm 10 runs every
 * dependency's install script, as most users' npm does.
 */
const PALETTE_NPM = path.join(
  path.dirname(require.resolve('npm/package.json', { paths: [path.dirname(require.resolve('@node-red/registry', { paths: [REPO_ROOT] }))] })),
  'bin',
  'npm-cli.js',
);

/** Runs an npm command line given as text (`NAME=value ... npm args`) with the palette manager's npm. */
function runNpm(commandLine: string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
  const settings = Object.fromEntries(commandLine.filter((word) => /^\w+=/.test(word)).map((word) => word.split('=') as [string, string]));
  const args = commandLine.slice(commandLine.indexOf('npm') + 1);
  return run(process.execPath, [PALETTE_NPM, ...args], { ...options, env: { ...options.env, ...settings }, maxBuffer: 16 * 1024 * 1024 });
}

let packed: Promise<PackedPack> | undefined;
const installs = new Map<boolean, Promise<InstalledPack>>();

/**
 * Packs the built tree, once per test run. `npm test` has just built dist/, so packing skips the
 * build (a build would delete the dist/ these tests run from).
 */
export function packedPack(): Promise<PackedPack> {
  packed ??= (async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-pack-'));
    const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: REPO_ROOT, env: userEnv() });
    return { tarball: path.join(work, pack.stdout.trim().split('\n').pop() as string), packLog: pack.stderr };
  })();
  return packed;
}

/**
 * The tarball installed into a new user directory by the palette manager's npm with its arguments, once per
 * test run; with `onnxruntime`, followed by the command local-sd gives when onnxruntime-node is missing.
 */
export function installedPack(options: { onnxruntime: boolean }): Promise<InstalledPack> {
  let install = installs.get(options.onnxruntime);
  if (!install) {
    install = (async () => {
      const { tarball } = await packedPack();
      const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-installed-'));
      fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify(NODE_RED_PROJECT, null, 4));
      const npm = { cwd: userDir, env: userEnv() };
      const pack = await runNpm(
        ['npm', 'install', '--no-audit', '--no-update-notifier', '--no-fund', '--save', '--save-prefix=~', '--omit=dev', '--engine-strict', tarball],
        npm,
      );
      let installLog = pack.stdout + pack.stderr;
      if (options.onnxruntime) {
        const ort = await runNpm(ONNXRUNTIME_CPU_INSTALL.split(' '), npm);
        installLog += ort.stdout + ort.stderr;
      }
      return { userDir, installLog };
    })();
    installs.set(options.onnxruntime, install);
  }
  return install;
}

/** A fresh user directory that uses an installed pack (its node_modules is shared, read-only). */
export async function freshUserDirWithPack(options: { onnxruntime: boolean }): Promise<string> {
  const { userDir: installed } = await installedPack(options);
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-user-'));
  fs.copyFileSync(path.join(installed, 'package.json'), path.join(userDir, 'package.json'));
  fs.symlinkSync(path.join(installed, 'node_modules'), path.join(userDir, 'node_modules'), 'dir');
  return userDir;
}
