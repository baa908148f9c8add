#!/usr/bin/env node
// `npm run test:node-red-5`: the whole suite again as a Node-RED 5 user runs it, on Node.js 22 from the
// npm registry's `node` package and Node-RED 5 from npm, in a scratch copy of this tree (this checkout's
// node_modules and dist/ stay as they are). Exits with the suite's status.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const NODE_MAJOR = '22';
const NODE_RED_MAJOR = '5';
// npm hands its own settings to scripts as npm_* variables, and puts node_modules/.bin first on PATH (where
// Node-RED's own npm 10 dependency would shadow the machine's npm): the nested commands get neither.
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
baseEnv.PATH = (process.env.PATH || '')
  .split(path.delimiter)
  .filter((dir) => !dir.includes(`node_modules${path.sep}.bin`))
  .join(path.delimiter);
const quiet = ['--no-audit', '--no-fund', '--no-update-notifier'];

function run(command, args, cwd, env) {
  execFileSync(command, args, { cwd, env, stdio: 'inherit' });
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-node-red-5-'));
let status = 0;
try {
  const tools = path.join(scratch, 'tools');
  fs.mkdirSync(tools);
  fs.writeFileSync(path.join(tools, 'package.json'), JSON.stringify({ name: 'tools', version: '1.0.0', private: true }));
  run('npm', ['install', ...quiet, `node@${NODE_MAJOR}`], tools, baseEnv);
  const env = { ...baseEnv, PATH: `${path.join(tools, 'node_modules', '.bin')}${path.delimiter}${baseEnv.PATH}` };

  const tree = path.join(scratch, 'tree');
  const skipped = new Set(['node_modules', 'dist', '.git', '.node-red', '.bench', 'test-output']);
  fs.cpSync(root, tree, { recursive: true, filter: (source) => !skipped.has(path.relative(root, source).split(path.sep)[0]) });
  run('npm', ['ci', ...quiet], tree, env);
  run('npm', ['install', '--no-save', ...quiet, `node-red@${NODE_RED_MAJOR}`], tree, env);
  const versions = execFileSync('node', ['-p', "process.version + ' ' + require('node-red/package.json').version"], { cwd: tree, env })
    .toString()
    .trim()
    .split(' ');
  if (!versions[0].startsWith(`v${NODE_MAJOR}.`) || !versions[1].startsWith(`${NODE_RED_MAJOR}.`)) {
    throw new Error(`expected Node.js ${NODE_MAJOR} and Node-RED ${NODE_RED_MAJOR}, got Node.js ${versions[0]} and Node-RED ${versions[1]}`);
  }
  console.log(`\nThe suite on Node-RED ${versions[1]}, Node.js ${versions[0]}\n`);
  try {
    run('npm', ['test'], tree, env);
  } catch (error) {
    status = typeof error.status === 'number' ? error.status : 1;
  }
  const output = path.join(tree, 'test-output');
  if (fs.existsSync(output)) fs.cpSync(output, path.join(root, 'test-output', `node-red-${NODE_RED_MAJOR}`), { recursive: true });
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
process.exit(status);
