import fs from 'node:fs';
import { createServer } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { z } from 'zod';
import type { JobInfo } from '../lib/contract';
import { sleep } from '../lib/http';
import { completeJob } from '../lib/jobs/complete';
import { ProviderConnection } from '../lib/providers';
import { pixeldojoJobSnapshot } from '../lib/providers/pixeldojo';
import type { SandboxServer } from '../lib/sandbox';
import { prepareUserDir } from '../scripts/node-red-home';
import { localSdBenchmark } from './local-sd';
import { journalScaling } from './journal';
import { jobsScale } from './jobs-scale';
import { rateLimitHeld } from './rate-limit';

/**
 * `npm run bench`: every number is a ratio against a baseline measured in the same run, on the
 * same sandbox, because the machines this runs on are shared and noisy.
 */

const CONCURRENCY = 64;
const MESSAGES = 4_000;
const FLUX_BODY = { prompt: 'a lighthouse at dusk', model: 'flux-pro' };

interface EmbeddedRed {
  init(server: Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  nodes: { getNode(id: string): { receive(msg: Record<string, unknown>): void; connection?: ProviderConnection } | null };
  hooks: { add(name: string, hook: (event: { source: { id: string }; msg: Record<string, unknown> }) => void): void };
  runtime: { flows: { setFlows(options: { flows: { flows: unknown[] }; deploymentType: string }): Promise<unknown> } };
}

/**
 * flux-generate inside a real, embedded Node-RED runtime (the pack installed in its user
 * directory as npm start does), so the measurement has none of the test helper's spies.
 */
async function startEmbeddedNodeRed(): Promise<{ red: EmbeddedRed; stop: () => Promise<void> }> {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-bench-'));
  prepareUserDir({ userDir, port: 0 });
  const red = require('node-red') as EmbeddedRed;
  const server = createServer();
  red.init(server, {
    userDir,
    httpAdminRoot: false,
    httpNodeRoot: false,
    credentialSecret: false,
    logging: { console: { level: 'warn' } },
    editorTheme: { tours: false },
  });
  await red.start();
  return {
    red,
    stop: async () => {
      await red.stop();
      server.close();
      fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
}

const ROUNDS = 5;

interface Spread {
  min: number;
  median: number;
  max: number;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0] ?? 0, median: sorted[Math.floor(sorted.length / 2)] ?? 0, max: sorted[sorted.length - 1] ?? 0 };
}

/**
 * flux-generate through Node-RED against bare undici, in ROUNDS interleaved rounds (the order
 * alternating), each pass drained before the next: the Node-RED pass's timed region ends when its
 * last output is delivered and its provider config's bookkeeping is on disk.
 */
async function throughputThroughNodeRed(
  red: EmbeddedRed,
  sandboxLatencyMs: number,
): Promise<{ ratio: Spread; nodeRed: Spread; bare: Spread; overheadMs: Spread }> {
  await red.runtime.flows.setFlows({
    deploymentType: 'full',
    flows: {
      flows: [
        { id: 'f1', type: 'tab' },
        { id: 'cfg', type: 'provider-config', kind: 'sandbox', rpm: '100000', concurrency: String(CONCURRENCY) },
        {
          id: 'gen',
          z: 'f1',
          x: 1,
          y: 1,
          type: 'flux-generate',
          provider: 'cfg',
          endpoint: 'flux',
          model: 'flux-pro',
          params: {},
          completion: 'wait',
          wires: [['sink']],
        },
        { id: 'sink', z: 'f1', x: 1, y: 1, type: 'junction', wires: [] },
      ],
    },
  });
  const deadline = Date.now() + 10_000;
  while (!red.nodes.getNode('gen') && Date.now() < deadline) await sleep(20);
  const connection = red.nodes.getNode('cfg')?.connection as ProviderConnection;
  const sandbox = await connection.sandbox();
  sandbox.credits = Number.MAX_SAFE_INTEGER;
  if (sandboxLatencyMs > 0) sandbox.injectFault({ fault: { type: 'latency', ms: sandboxLatencyMs }, times: Number.MAX_SAFE_INTEGER });
  const nodeRedPass = async (total: number) => {
    const started = performance.now();
    await runNodeRed(red, total);
    await connection.budget.flushed();
    return total / ((performance.now() - started) / 1000);
  };

  // Warm both paths (JIT, sockets) before timing.
  await nodeRedPass(200);
  await runBare(sandbox, 200);
  const nodeRed: number[] = [];
  const bare: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) {
      nodeRed.push(await nodeRedPass(MESSAGES));
      bare.push(await runBare(sandbox, MESSAGES));
    } else {
      bare.push(await runBare(sandbox, MESSAGES));
      nodeRed.push(await nodeRedPass(MESSAGES));
    }
  }
  return {
    ratio: spread(nodeRed.map((rate, index) => rate / (bare[index] ?? rate))),
    nodeRed: spread(nodeRed),
    bare: spread(bare),
    // What the pack adds per message: the difference of the time per message of the two paths (CPU-bound at 0 ms).
    overheadMs: spread(nodeRed.map((rate, index) => 1000 / rate - 1000 / (bare[index] ?? rate))),
  };
}

/** Every message flux-generate sends, seen through Node-RED's postDeliver hook. */
let onGenerated: (msg: Record<string, unknown>) => void = () => undefined;

/** Keeps CONCURRENCY messages in flight through flux-generate; returns messages per second. */
function runNodeRed(red: EmbeddedRed, total: number): Promise<number> {
  const node = red.nodes.getNode('gen');
  if (!node) throw new Error('flux-generate did not start');
  return new Promise((resolve, reject) => {
    let sent = 0;
    let received = 0;
    const started = performance.now();
    const send = () => node.receive({ prompt: FLUX_BODY.prompt });
    onGenerated = (msg) => {
      if (!msg.images) return reject(new Error('no images in an output'));
      if (++received === total) resolve(total / ((performance.now() - started) / 1000));
      else if (sent < total) {
        sent++;
        send();
      }
    };
    for (; sent < Math.min(CONCURRENCY, total); sent++) send();
  });
}

/** The same requests with bare undici: CONCURRENCY workers, keep-alive pool, JSON parsed. */
async function runBare(sandbox: SandboxServer, total: number): Promise<number> {
  const agent = new Agent({ connections: CONCURRENCY });
  const url = `${sandbox.baseUrl('pixeldojo')}/flux`;
  const headers = { authorization: `Bearer ${sandbox.options.apiKey}`, 'content-type': 'application/json' };
  let remaining = total;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (remaining-- > 0) {
        const answer = await request(url, { method: 'POST', headers, body: JSON.stringify(FLUX_BODY), dispatcher: agent });
        const body = (await answer.body.json()) as { images?: unknown[] };
        if (!body.images) throw new Error('no images');
      }
    }),
  );
  await agent.close();
  return total / ((performance.now() - started) / 1000);
}

/**
 * Polls per completed job: the pack's backoff (2 s doubling to 30 s, with jitter) against a fixed
 * 2 s poll, for a 60 s job. Time is scaled by 1/10 (a 6 s job, 200 ms / 3 s delays) so the bench
 * runs in seconds; both schedules scale alike, so the ratio is the same.
 */
async function pollsPerJob(): Promise<{ backoff: number; fixed: number }> {
  const SCALE = 10;
  const JOBS = 8;
  const connection = new ProviderConnection({ name: 'bench', config: { kind: 'sandbox', rpm: '100000' }, credentials: {} });
  const sandbox = await connection.sandbox();
  const client = await connection.client('pixeldojo');
  const submit = async (): Promise<JobInfo> => {
    sandbox.scriptJobs('pixeldojo', { durationMs: 60_000 / SCALE });
    const answer = await client.json({ method: 'POST', path: 'models/flux-dev/run', json: { prompt: 'p' }, intent: 'submit' }, z.object({ jobId: z.string() }));
    return { provider: 'pixeldojo', model: 'flux-dev', id: answer.jobId, status: 'pending', params: {} };
  };
  const pollsOf = (job: JobInfo) => sandbox.requestsTo('pixeldojo', 'GET', `/jobs/${job.id}`).length;

  const backoffJobs = await Promise.all(Array.from({ length: JOBS }, submit));
  await Promise.all(
    backoffJobs.map((job) =>
      completeJob(connection, job, {
        completion: 'wait',
        download: false,
        poll: { initialDelayMs: 2_000 / SCALE, maxDelayMs: 30_000 / SCALE, timeoutMs: 600_000 },
      }),
    ),
  );
  const fixedJobs = await Promise.all(Array.from({ length: JOBS }, submit));
  await Promise.all(
    fixedJobs.map(async (job) => {
      for (;;) {
        await sleep(2_000 / SCALE);
        if ((await pixeldojoJobSnapshot(client, job.id as string)).status === 'completed') return;
      }
    }),
  );
  await connection.close();
  const mean = (jobs: JobInfo[]) => jobs.reduce((sum, job) => sum + pollsOf(job), 0) / jobs.length;
  return { backoff: mean(backoffJobs), fixed: mean(fixedJobs) };
}

const SAVE_BODY_MB = 50;
const SAVE_ROUNDS = 8;

/** Sends one message to a node and resolves with what it sent (through the postDeliver hook). */
function throughNode(red: EmbeddedRed, id: string, msg: Record<string, unknown>): Promise<Record<string, unknown>> {
  const node = red.nodes.getNode(id);
  if (!node) throw new Error(`${id} did not start`);
  return new Promise((resolve) => {
    watchers.set(id, resolve);
    node.receive(msg);
  });
}
const watchers = new Map<string, (msg: Record<string, unknown>) => void>();

/** Peak RSS growth while `work` runs, sampled every 5 ms. */
async function peakGrowthMb(work: () => Promise<unknown>): Promise<number> {
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return (peak - baseline) / 1024 / 1024;
}

/**
 * save-image in Node-RED (download, type check, hash, PNG text chunk, atomic rename, sidecar,
 * gallery line) against a bare `stream.pipeline` of the same download to a file.
 */
async function saveThroughput(red: EmbeddedRed): Promise<{ node: number; bare: number; peakNode500: number; peakBare500: number }> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-bench-save-'));
  await red.runtime.flows.setFlows({
    deploymentType: 'full',
    flows: {
      flows: [
        { id: 'f1', type: 'tab' },
        { id: 'cfg', type: 'provider-config', kind: 'sandbox' },
        {
          id: 'save',
          z: 'f1',
          x: 1,
          y: 1,
          type: 'save-image',
          directory,
          filename: 'bench',
          collision: 'unique',
          preview: false,
          maxSize: '1000',
          wires: [['sink']],
        },
        { id: 'sink', z: 'f1', x: 1, y: 1, type: 'junction', wires: [] },
      ],
    },
  });
  const deadline = Date.now() + 10_000;
  while (!red.nodes.getNode('cfg') && Date.now() < deadline) await sleep(20);
  const sandbox = await (red.nodes.getNode('cfg')?.connection as ProviderConnection).sandbox();
  const url = (mb: number) => `${sandbox.origin}/files/large-${mb * 1024 * 1024}.png`;
  const agent = new Agent();
  // Both sides write a new file each time (the usual case); files are removed outside the timed region.
  let bareFiles = 0;
  const bare = async (mb: number) => {
    const answer = await request(url(mb), { dispatcher: agent });
    await pipeline(answer.body, fs.createWriteStream(path.join(directory, `bare-${bareFiles++}.png`)));
  };
  const viaNode = async (mb: number) => {
    const out = await throughNode(red, 'save', { payload: url(mb) });
    if (!Array.isArray(out.files)) throw new Error('save-image sent no files');
  };
  const clean = () => {
    for (const file of fs.readdirSync(directory)) if (!file.startsWith('.')) fs.rmSync(path.join(directory, file));
  };
  for (let warm = 0; warm < 2; warm++) {
    await viaNode(SAVE_BODY_MB);
    await bare(SAVE_BODY_MB);
  }
  clean();
  let nodeMs = 0;
  let bareMs = 0;
  // Alternate the two so drift in the machine's load falls on both alike.
  for (let round = 0; round < SAVE_ROUNDS; round++) {
    let started = performance.now();
    await viaNode(SAVE_BODY_MB);
    nodeMs += performance.now() - started;
    started = performance.now();
    await bare(SAVE_BODY_MB);
    bareMs += performance.now() - started;
    clean();
  }
  const megabytes = SAVE_BODY_MB * SAVE_ROUNDS;
  const peakNode500 = await peakGrowthMb(() => viaNode(500));
  clean();
  const peakBare500 = await peakGrowthMb(() => bare(500));
  await agent.close();
  fs.rmSync(directory, { recursive: true, force: true });
  return { node: megabytes / (nodeMs / 1000), bare: megabytes / (bareMs / 1000), peakNode500, peakBare500 };
}

async function main(): Promise<void> {
  const { red, stop } = await startEmbeddedNodeRed();
  red.hooks.add('postDeliver', (event) => {
    if (event.source.id === 'gen') onGenerated(event.msg);
    const watcher = watchers.get(event.source.id);
    if (watcher) {
      watchers.delete(event.source.id);
      watcher(event.msg);
    }
  });
  console.log(
    `flux-generate throughput in Node-RED, ${CONCURRENCY} in flight, ${MESSAGES} messages a pass, ${ROUNDS} interleaved rounds (min / median / max), sandbox on loopback`,
  );
  for (const latency of [0, 50]) {
    const { ratio, nodeRed, bare, overheadMs } = await throughputThroughNodeRed(red, latency);
    const show = (value: Spread, digits: number) => `${value.min.toFixed(digits)} / ${value.median.toFixed(digits)} / ${value.max.toFixed(digits)}`;
    console.log(`  sandbox latency ${String(latency).padStart(2)} ms: Node-RED ${show(nodeRed, 0)} msg/s, bare undici ${show(bare, 0)} req/s`);
    console.log(`    ratio ${show(ratio, 2)} (goal: median >= 0.95 at 50 ms); the pack's time per message ${show(overheadMs, 3)} ms (goal <= 0.2 at 0 ms)`);
  }
  const save = await saveThroughput(red);
  console.log(`save-image, ${SAVE_ROUNDS} downloads of ${SAVE_BODY_MB} MB each, to disk`);
  console.log(
    `  save-image ${save.node.toFixed(0)} MB/s, bare stream.pipeline ${save.bare.toFixed(0)} MB/s, ratio ${(save.node / save.bare).toFixed(2)} (goal >= 0.9)`,
  );
  console.log(`  peak memory growth for a 500 MB body: save-image ${save.peakNode500.toFixed(1)} MB, bare pipeline ${save.peakBare500.toFixed(1)} MB`);
  const deploy = async (flows: unknown[]) => {
    await red.runtime.flows.setFlows({ deploymentType: 'full', flows: { flows } });
    const deadline = Date.now() + 10_000;
    while (!red.nodes.getNode('sd') && Date.now() < deadline) await sleep(20);
  };
  const sd = await localSdBenchmark(deploy, (id, msg) => throughNode(red, id, msg));
  console.log('local-sd, 512x512, 20 steps with guidance, on a generated model (CPU)');
  console.log(
    `  mean onnxruntime call ${sd.meanOnnxCallMs.toFixed(1)} ms; 3 generations' pipeline ${sd.pipelineMs.toFixed(0)} ms vs their onnxruntime calls ${sd.onnxMs.toFixed(0)} ms, ratio ${(sd.pipelineMs / sd.onnxMs).toFixed(3)} (goal <= 1.05)`,
  );
  console.log(
    `  one generation through Node-RED ${sd.nodeRedMs.toFixed(0)} ms, ratio to its share of the onnxruntime calls ${(sd.nodeRedMs / (sd.onnxMs / 3)).toFixed(3)}`,
  );
  console.log(
    `  Node-RED event-loop delay during the generation: worst ${sd.worstLoopDelayMs.toFixed(1)} ms, mean ${sd.meanLoopDelayMs.toFixed(2)} ms (goal worst < 20 ms)`,
  );
  await stop();
  const scaling = await journalScaling([100, 1_000, 10_000], 3);
  console.log(`pending-job journal: ${200} submits in turn with N jobs already pending (each fsynced; 3 interleaved repeats, min/median/max)`);
  const base = scaling[0]?.perAddMs[1] ?? 1;
  for (const scale of scaling) {
    const [min, median, max] = scale.perAddMs.map((ms) => ms.toFixed(3));
    console.log(
      `  ${String(scale.pending).padStart(6)} pending: ${min} / ${median} / ${max} ms per submit, ratio to 100 pending ${(scale.perAddMs[1] / base).toFixed(2)} (goal <= 1.5), ` +
        `${scale.bytesPerAdd.toFixed(0)} bytes written per submit (goal < 4096), RSS growth filling it ${scale.fillRssGrowthMb.toFixed(0)} MB`,
    );
  }
  const listingBase = scaling[0]?.perListingMs ?? 1;
  for (const scale of scaling) {
    console.log(
      `  ${String(scale.pending).padStart(6)} pending: the sidebar's listing of the 100 jobs waiting longest ${(scale.perListingMs * 1000).toFixed(1)} µs, ` +
        `ratio to 100 pending ${(scale.perListingMs / listingBase).toFixed(2)} (goal <= 1.5)`,
    );
  }
  console.log('jobs path at scale: N flux-generate jobs (jobs API, completion wait) in one burst into a real Node-RED process, left pending');
  const scales = [await jobsScale(100, false), await jobsScale(1_000, false), await jobsScale(10_000, true)];
  const perSubmitAt100 = scales[0]?.perSubmitMs ?? 1;
  for (const scale of scales) {
    console.log(
      `  ${String(scale.pending).padStart(6)} pending: ${scale.perSubmitMs.toFixed(2)} ms per submit (ratio to 100: ${(scale.perSubmitMs / perSubmitAt100).toFixed(2)}, goal <= 1.5 at 10000), ` +
        `${scale.bytesPerSubmit.toFixed(0)} journal bytes per job (goal < 4096), peak RSS growth ${scale.rssGrowthMb.toFixed(0)} MB (goal < 300), ` +
        `event-loop delay p99 ${scale.loopP99Ms.toFixed(0)} ms, max ${scale.loopMaxMs.toFixed(0)} ms`,
    );
    if (scale.resumed) {
      const { once, twice, lost, submitsAgain, seconds } = scale.resumed;
      console.log(
        `    after a restart: ${once} completed exactly once, ${twice} more than once, ${lost} lost, ${submitsAgain} submitted again, in ${seconds.toFixed(0)} s`,
      );
    }
  }
  const rate = await rateLimitHeld(150);
  console.log('rate limit: 64 submitters for 150 s through configs of 60 a minute, against a provider that answers 429 above 60 in any sliding minute');
  for (const held of rate) {
    console.log(
      `  ${held.path === 'jobs' ? 'jobs API (journaled)' : '/flux'}: ${held.refused429} answers of 429 (goal 0), ${held.accepted} of ${held.allowed} allowed requests used, ${((held.accepted / held.allowed) * 100).toFixed(0)}% (goal >= 95%)`,
    );
  }
  const polls = await pollsPerJob();
  console.log('polls per completed 60 s job (time scaled 1/10)');
  console.log(`  backoff ${polls.backoff.toFixed(1)}, fixed 2 s ${polls.fixed.toFixed(1)}, ratio ${(polls.backoff / polls.fixed).toFixed(2)} (goal <= 0.3)`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
