import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, prepareUserDir, spawnNodeRed } from './node-red-home';

/**
 * `npm start`: Node-RED on 127.0.0.1:1880 with this pack and a git-ignored user directory.
 * PORT and NODE_RED_USER_DIR override both (the tests run it on a free port in a temporary directory).
 */
const userDir = process.env.NODE_RED_USER_DIR ?? path.join(REPO_ROOT, '.node-red');
const port = Number(process.env.PORT ?? 1880);
const starterFile = path.join(REPO_ROOT, 'examples', 'starter.json');
const starterFlows = fs.existsSync(starterFile) ? (JSON.parse(fs.readFileSync(starterFile, 'utf8')) as unknown[]) : undefined;

const settingsFile = prepareUserDir({ userDir, port, starterFlows });
const child = spawnNodeRed(userDir, settingsFile, 'inherit');
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code) => process.exit(code ?? 0));
