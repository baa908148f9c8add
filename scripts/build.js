#!/usr/bin/env node
// Compiles the TypeScript (a type error fails the build) and lays out each node's editor files
// where Node-RED looks for them: `<name>.html`, `locales/` and `icons/` beside the node's `.js`.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');

fs.rmSync(dist, { recursive: true, force: true });
try {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });
} catch {
  process.exit(1); // tsc has already printed the errors
}

const icons = path.join(root, 'icons');
const common = path.join(root, 'nodes', 'shared', 'locales');

// Node-RED reads one message catalogue per node set, so the shared status texts are merged into each.
function mergeCommonMessages(type, locales) {
  for (const language of fs.readdirSync(common)) {
    const file = path.join(locales, language, `${type}.json`);
    if (!fs.existsSync(file)) continue;
    const messages = JSON.parse(fs.readFileSync(file, 'utf8'));
    messages.common = JSON.parse(fs.readFileSync(path.join(common, language, 'common.json'), 'utf8'));
    fs.writeFileSync(file, JSON.stringify(messages, null, 2));
  }
}
// Nodes, and the editor plugins the pack ships (the image-gen sidebar), are laid out alike.
const folders = ['nodes', 'plugins'].flatMap((group) => fs.readdirSync(path.join(root, group)).map((type) => [group, type]));
for (const [group, type] of folders) {
  const source = path.join(root, group, type);
  // Only node folders (those with an editor file) are laid out; others hold shared node code.
  if (!fs.statSync(source).isDirectory() || !fs.readdirSync(source).some((entry) => entry.endsWith('.html'))) continue;
  const target = path.join(dist, group, type);
  fs.mkdirSync(target, { recursive: true });
  for (const entry of fs.readdirSync(source)) {
    if (entry.endsWith('.html')) fs.copyFileSync(path.join(source, entry), path.join(target, entry));
  }
  if (fs.existsSync(path.join(source, 'locales'))) {
    fs.cpSync(path.join(source, 'locales'), path.join(target, 'locales'), { recursive: true });
    mergeCommonMessages(type, path.join(target, 'locales'));
  }
  fs.cpSync(icons, path.join(target, 'icons'), { recursive: true });
}
