import fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { JOURNAL_FILE } from '../lib/jobs/journal';
import { SANDBOX_API_KEY, startSandbox } from '../lib/sandbox';
import { journaledJobs } from '../test/support/journal';
import { waitFor } from '../test/support/net';
import { probeEnv, readProbe, resetProbe } from '../test/support/process-probe';
import { startRuntime } from '../test/support/runtime';
import type { Runtime } from '../test/support/runtime';

export interface JobsScale {
  pending: number;
  /** From the burst's start until the provider has received every submit, per submit. */
  perSubmitMs: number;
  /** The journal file's size once every job is journaled with its id, per job. */
  bytesPerSubmit: number;
  rssGrowthMb: number;
  loopP99Ms: number;
  loopMaxMs: number;
  /** With a restart: jobs that completed exactly once after it, more than once, and not at all. */
  resumed?: { once: number; twice: number; lost: number; submitsAgain: number; seconds: number };
}

/**
 * N flux-generate jobs (the PixelDojo jobs API, completion wait) submitted in one burst into a
 * real Node-RED process and left pending at the provider. Measures what the pack's bookkeeping
 * costs as the number of pending jobs grows; with `restart`, Node-RED is stopped, the jobs finish,
 * and Node-RED is started again: each job must complete exactly once, none submitted again.
 */
export async function jobsScale(pending: number, restart: boolean): Promise<JobsScale> {
  const sandbox = await startSandbox({ credits: 1e12, jobDurationMs: 3_600_000 });
  const outcomes = new Map<string, number>();
  const collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const prompt = Buffer.concat(chunks).toString('utf8');
      outcomes.set(prompt, (outcomes.get(prompt) ?? 0) + 1);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-bench-scale-'));
  const probeFile = path.join(userDir, 'probe.json');
  const journalFile = path.join(userDir, JOURNAL_FILE);
  let runtime: Runtime | undefined;
  const submits = () => sandbox.requestsTo('pixeldojo', 'POST').length;
  try {
    runtime = await startRuntime('', userDir, probeEnv(probeFile));
    await runtime.deploy([
      { id: 'tab', type: 'tab', label: 'scale' },
      {
        id: 'pd',
        type: 'provider-config',
        name: 'bench pixeldojo',
        kind: 'pixeldojo',
        baseUrl: sandbox.baseUrl('pixeldojo'),
        rpm: '100000',
        concurrency: '100000',
        credentials: { apiKey: SANDBOX_API_KEY },
      },
      { id: 'go', type: 'inject', z: 'tab', x: 1, y: 1, payload: String(pending), payloadType: 'num', wires: [['burst']] },
      {
        id: 'burst',
        type: 'function',
        z: 'tab',
        x: 1,
        y: 1,
        func: 'for (let i = 0; i < msg.payload; i++) node.send({ prompt: "scale-" + i });\nreturn null;',
        outputs: 1,
        wires: [['gen']],
      },
      {
        id: 'gen',
        type: 'flux-generate',
        z: 'tab',
        x: 1,
        y: 1,
        provider: 'pd',
        endpoint: 'jobs',
        model: 'flux-dev',
        prompt: '',
        params: {},
        completion: 'wait',
        download: false,
        wires: [['report']],
      },
      { id: 'report', type: 'change', z: 'tab', x: 1, y: 1, rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'prompt', tot: 'msg' }], wires: [['post']] },
      {
        id: 'post',
        type: 'http request',
        z: 'tab',
        x: 1,
        y: 1,
        method: 'POST',
        ret: 'txt',
        url: `http://127.0.0.1:${(collector.address() as AddressInfo).port}/`,
        paytoqs: 'ignore',
        wires: [],
      },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // The figures are the burst's, not Node-RED's start-up.
    await resetProbe(probeFile);
    const baselineRss = readProbe(probeFile)?.rss ?? 0;
    let peakRss = baselineRss;
    const sample = setInterval(() => (peakRss = Math.max(peakRss, readProbe(probeFile)?.rss ?? 0)), 100);
    const started = performance.now();
    for (let answer = await runtime.call('POST', '/inject/go'); answer.status !== 200; answer = await runtime.call('POST', '/inject/go')) {
      if (performance.now() - started > 10_000) throw new Error(`the inject node answered ${answer.status}`);
    }
    await waitFor(() => submits() >= pending, 600_000, `${pending} submits`);
    const perSubmitMs = (performance.now() - started) / pending;
    for (let journaled = 0; journaled < pending; journaled = journaledJobs(journalFile).filter((entry) => entry.job.id).length) {
      if (performance.now() - started > 600_000) throw new Error(`${journaled} of ${pending} jobs journaled with their id`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    clearInterval(sample);
    const bytesPerSubmit = fs.statSync(journalFile).size / pending;
    const probe = readProbe(probeFile);
    const result: JobsScale = {
      pending,
      perSubmitMs,
      bytesPerSubmit,
      rssGrowthMb: (peakRss - baselineRss) / 1024 / 1024,
      loopP99Ms: probe?.loopP99Ms ?? 0,
      loopMaxMs: probe?.loopMaxMs ?? 0,
    };
    if (restart) {
      await runtime.stop({ keepUserDir: true });
      runtime = undefined;
      const submitted = submits();
      sandbox.finishJobs('pixeldojo');
      const resumedAt = performance.now();
      runtime = await startRuntime('', userDir, probeEnv(probeFile));
      await waitFor(() => outcomes.size >= pending, 600_000, `${pending} results after the restart`).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const counts = Array.from({ length: pending }, (_, index) => outcomes.get(`scale-${index}`) ?? 0);
      result.resumed = {
        once: counts.filter((count) => count === 1).length,
        twice: counts.filter((count) => count > 1).length,
        lost: counts.filter((count) => count === 0).length,
        submitsAgain: submits() - submitted,
        seconds: (performance.now() - resumedAt) / 1000,
      };
    }
    return result;
  } finally {
    await runtime?.stop();
    await sandbox.close();
    collector.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}
