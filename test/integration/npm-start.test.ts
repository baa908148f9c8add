import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { REPO_ROOT } from '../../scripts/node-red-home';
import { freePort, waitFor } from '../support/net';

describe('npm start', function () {
  this.timeout(60_000);

  it('runs the command package.json gives (after its build step), serving the editor with the starter flow', async () => {
    const start = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
    const [build, run] = start.split(' && ');
    assert.equal(build, 'npm run build', 'npm start builds first');
    const [command, ...args] = run.split(' ');
    assert.equal(command, 'node');
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-start-'));
    const port = await freePort();
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, PORT: String(port), NODE_RED_USER_DIR: userDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    try {
      await waitFor(() => log.includes('Started flows') || child.exitCode !== null, 45_000, 'Node-RED to start');
      assert.equal(child.exitCode, null, log);
      assert.match(log, new RegExp(`Server now running at http://127\\.0\\.0\\.1:${port}/`));
      const editor = await request(`http://127.0.0.1:${port}/`);
      assert.equal(editor.statusCode, 200);
      await editor.body.dump();
      const flows = JSON.parse(fs.readFileSync(path.join(userDir, 'flows.json'), 'utf8')) as Array<{ type: string }>;
      assert.ok(
        flows.some((node) => node.type === 'flux-generate'),
        'the starter flow is deployed',
      );
      assert.ok(fs.lstatSync(path.join(userDir, 'node_modules', 'node-red-contrib-image-gen')).isSymbolicLink());
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      await exited;
      fs.rmSync(userDir, { recursive: true, force: true });
    }
  });
});
