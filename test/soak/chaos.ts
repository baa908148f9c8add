import fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SANDBOX_ACCOUNT_ID, SANDBOX_API_KEY, startSandbox } from '../../lib/sandbox';
import type { FaultRule, SandboxServer } from '../../lib/sandbox';
import { waitFor } from '../support/net';
import { probeEnv, readProbe, resetProbe } from '../support/process-probe';
import type { ProbeSnapshot } from '../support/process-probe';
import { startRuntime } from '../support/runtime';
import type { Runtime } from '../support/runtime';

/**
 * The chaos soak: thousands of jobs through a real Node-RED process, mixing every submitting node,
 * job-poll and job-webhook, against the loopback sandbox with about a fifth of its answers faulted,
 * two redeploys and a kill -9 restart on the way. It counts what the pack promises: each message
 * is submitted once, and each submitted job gives exactly one result or error.
 */
export interface SoakOptions {
  jobs: number;
  /** Seeds the fault and outcome choices, so a run can be repeated. */
  seed: number;
  /** How long the jobs pending across each redeploy and the restart take in the sandbox. */
  holdMs: number;
  /** How long to wait for every result at the end before counting what is missing. */
  drainMs: number;
  log: (line: string) => void;
}

export interface SoakReport {
  jobsSubmitted: number;
  submitsReceived: number;
  /** Messages refused before their submit (an error through Catch, nothing sent). */
  refusedBeforeSubmit: number;
  submitsDuplicated: number;
  deliveredOnce: number;
  results: number;
  errors: number;
  duplicated: number;
  lost: number;
  faultsInjected: number;
  faultedShare: number;
  received429: number;
  heldAcross: number;
  crashes: number;
  loopP99Ms: number;
  loopMaxMs: number;
  heapGrowthMb: number;
  openHandlesAfter: Record<string, number>;
  seconds: number;
  errorKinds: Record<string, number>;
}

/** The targets a message is routed to, each a node (and completion) of the pack. */
const TARGETS = [
  'flux-sync',
  'flux-wait',
  'flux-webhook',
  'flux-job',
  'piapi-wait',
  'piapi-webhook',
  'piapi-job',
  'workers-ai-worker',
  'workers-ai-rest',
] as const;
type Target = (typeof TARGETS)[number];
/** Targets whose jobs outlive a request, so they can be held pending across a redeploy or restart. */
const ASYNC_TARGETS: Target[] = ['flux-wait', 'flux-webhook', 'flux-job', 'piapi-wait', 'piapi-webhook', 'piapi-job'];

/** About a fifth of the sandbox's answers are faulted (the rules' chances add up to about 0.2 per request). */
const FAULTS: FaultRule[] = [
  { method: 'POST', fault: { type: 'status', status: 429, retryAfter: '1' }, chance: 0.05 },
  { method: 'POST', fault: { type: 'status', status: 502 }, chance: 0.03 },
  { method: 'POST', fault: { type: 'reset' }, chance: 0.02 },
  { method: 'POST', fault: { type: 'malformed' }, chance: 0.02 },
  { method: 'POST', fault: { type: 'wrong-shape' }, chance: 0.02 },
  { method: 'POST', fault: { type: 'drip', everyMs: 150 }, chance: 0.03 },
  { method: 'POST', fault: { type: 'latency', ms: 1500 }, chance: 0.03 },
  { method: 'GET', fault: { type: 'status', status: 429, retryAfter: '1' }, chance: 0.05 },
  { method: 'GET', fault: { type: 'status', status: 503 }, chance: 0.05 },
  { method: 'GET', fault: { type: 'reset' }, chance: 0.03 },
  { method: 'GET', fault: { type: 'malformed' }, chance: 0.03 },
  { method: 'GET', fault: { type: 'drip', everyMs: 100 }, chance: 0.03 },
];

/** Job endings chosen by prompt tag, for the async targets. */
function outcomeTag(next: () => number): string {
  const roll = next();
  if (roll < 0.08) return ' [sandbox:fail]';
  if (roll < 0.12) return ' [sandbox:moderate]';
  if (roll < 0.17) return ' [sandbox:expire]';
  return '';
}

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const PROMPT_ID = /soak-(\d+)/;

function promptIdOf(body: unknown): number | undefined {
  const match = PROMPT_ID.exec(JSON.stringify(body ?? ''));
  return match ? Number(match[1]) : undefined;
}

/** The soak's flow: http in routes each message to its target; results and errors are posted to the collector. */
function soakFlow(sandbox: SandboxServer, nodeRedPort: number, collectorPort: number): unknown[] {
  const tab = 'soak.tab';
  const common = { z: tab, x: 300, y: 100 };
  const config = (id: string, kind: string, baseUrl: string, credentials: Record<string, string>) => ({
    id,
    type: 'provider-config',
    name: `soak ${kind}`,
    kind,
    baseUrl,
    rpm: '100000',
    concurrency: '32',
    timeout: '8000',
    webhookBaseUrl: `http://127.0.0.1:${nodeRedPort}`,
    webhookGrace: '2',
    budget: '',
    credentials,
  });
  const node = (target: Target): Record<string, unknown> => {
    const [family, mode] = target.split(/-(?=[^-]+$)/) as [string, string];
    const completion = ['wait', 'webhook', 'job'].includes(mode) ? mode : 'wait';
    const outputs = target === 'flux-job' ? [['poll.pd']] : target === 'piapi-job' ? [['poll.pi']] : [['result']];
    if (family === 'flux' && mode === 'sync')
      return {
        type: 'flux-generate',
        provider: 'pd',
        endpoint: 'flux',
        model: 'flux-pro',
        prompt: '',
        params: {},
        completion: 'wait',
        download: false,
        wires: outputs,
      };
    if (family === 'flux')
      return {
        type: 'flux-generate',
        provider: 'pd',
        endpoint: 'jobs',
        model: 'flux-dev',
        prompt: '',
        params: {},
        completion,
        download: false,
        wires: outputs,
      };
    if (family === 'piapi')
      return {
        type: 'piapi-task',
        provider: 'pi',
        model: 'Qubico/flux1-schnell',
        taskType: 'txt2img',
        prompt: '',
        params: {},
        completion,
        serviceMode: '',
        download: false,
        wires: outputs,
      };
    return {
      type: 'workers-ai',
      provider: mode === 'worker' ? 'wk' : 'cf',
      endpoint: mode === 'worker' ? 'worker' : 'rest',
      model: '@cf/black-forest-labs/flux-1-schnell',
      prompt: '',
      params: {},
      wires: outputs,
    };
  };
  const collector = `http://127.0.0.1:${collectorPort}/outcome`;
  /** A change node that turns a message into its outcome (a JSONata object) for the collector. */
  const outcome = (id: string, payload: string) => ({
    ...common,
    id,
    type: 'change',
    rules: [
      { t: 'set', p: 'payload', pt: 'msg', to: payload, tot: 'jsonata' },
      { t: 'delete', p: 'headers', pt: 'msg' },
    ],
    wires: [['post']],
  });
  const caught = [...TARGETS.map((target) => `gen.${target}`), 'poll.pd', 'poll.pi', 'hook'];
  return [
    { id: tab, type: 'tab', label: 'soak' },
    config('pd', 'pixeldojo', sandbox.baseUrl('pixeldojo'), { apiKey: SANDBOX_API_KEY }),
    config('pi', 'piapi', sandbox.baseUrl('piapi'), { apiKey: SANDBOX_API_KEY }),
    config('wk', 'workers-ai', sandbox.baseUrl('workers-ai'), {}),
    config('cf', 'cloudflare', sandbox.baseUrl('cloudflare'), { apiKey: SANDBOX_API_KEY, accountId: SANDBOX_ACCOUNT_ID }),
    { ...common, id: 'in', type: 'http in', url: '/soak', method: 'post', wires: [['ack', 'route']] },
    { ...common, id: 'ack', type: 'http response', statusCode: '200', wires: [] },
    {
      ...common,
      id: 'route',
      type: 'change',
      rules: [
        { t: 'set', p: 'prompt', pt: 'msg', to: 'payload.prompt', tot: 'msg' },
        { t: 'set', p: 'target', pt: 'msg', to: 'payload.target', tot: 'msg' },
        { t: 'delete', p: 'req', pt: 'msg' },
        { t: 'delete', p: 'res', pt: 'msg' },
        { t: 'delete', p: 'payload', pt: 'msg' },
      ],
      wires: [['switch']],
    },
    {
      ...common,
      id: 'switch',
      type: 'switch',
      property: 'target',
      propertyType: 'msg',
      rules: TARGETS.map((target) => ({ t: 'eq', v: target, vt: 'str' })),
      checkall: 'false',
      outputs: TARGETS.length,
      wires: TARGETS.map((target) => [`gen.${target}`]),
    },
    ...TARGETS.map((target) => ({ ...common, id: `gen.${target}`, name: target, ...node(target) })),
    {
      ...common,
      id: 'poll.pd',
      type: 'job-poll',
      provider: 'pd',
      initialDelay: '200',
      maxDelay: '1000',
      timeout: '120000',
      download: false,
      wires: [['result']],
    },
    {
      ...common,
      id: 'poll.pi',
      type: 'job-poll',
      provider: 'pi',
      initialDelay: '200',
      maxDelay: '1000',
      timeout: '120000',
      download: false,
      wires: [['result']],
    },
    { ...common, id: 'hook', type: 'job-webhook', path: '/image-gen/webhook', wires: [['result']] },
    outcome('result', '{"prompt": prompt, "kind": "result"}'),
    { ...common, id: 'catch', type: 'catch', scope: caught, uncaught: false, wires: [['failure']] },
    outcome('failure', '{"prompt": prompt, "kind": "error", "error": error.message}'),
    { ...common, id: 'post', type: 'http request', method: 'POST', ret: 'txt', url: collector, paytoqs: 'ignore', wires: [] },
  ];
}

/** The collector: where the flow posts each message's one outcome. */
async function startCollector(): Promise<{ port: number; outcomes: Map<number, Array<{ kind: string; error?: string }>>; close(): Promise<void> }> {
  const outcomes = new Map<number, Array<{ kind: string; error?: string }>>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { prompt?: string; kind: string; error?: string };
        const id = promptIdOf(body.prompt);
        if (id !== undefined) outcomes.set(id, [...(outcomes.get(id) ?? []), { kind: body.kind, error: body.error }]);
      } finally {
        res.writeHead(200).end('ok');
      }
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    outcomes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Runs the soak and reports what it counted; `brokenPromises` says which figures break a promise. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const started = Date.now();
  const next = seeded(options.seed);
  const sandbox = await startSandbox({ credits: 1e9, jobDurationMs: 800, webhookRepeats: 2, webhookDelayMs: 1500, random: seeded(options.seed + 1) });
  const collector = await startCollector();
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-soak-'));
  const probeFile = path.join(userDir, 'soak-probe.json');
  const env = probeEnv(probeFile);
  const sent = new Map<number, Target>();
  const held = new Set<number>();
  let runtime: Runtime | undefined;
  let crashes = 0;
  let loopP99Ms = 0;
  let loopMaxMs = 0;
  const probe = (): ProbeSnapshot | undefined => readProbe(probeFile);
  /** The event-loop figures of the process about to stop, kept as the worst seen. */
  const keepLoopFigures = (): void => {
    const snapshot = probe();
    if (!snapshot) return;
    loopP99Ms = Math.max(loopP99Ms, snapshot.loopP99Ms);
    loopMaxMs = Math.max(loopMaxMs, snapshot.loopMaxMs);
  };
  const heapAfterGc = async (): Promise<number> => {
    fs.writeFileSync(`${probeFile}.gc`, '');
    await waitFor(() => !fs.existsSync(`${probeFile}.gc`), 10_000, 'a garbage collection in Node-RED');
    await new Promise((resolve) => setTimeout(resolve, 300));
    return probe()?.heapAfterGc ?? 0;
  };
  const start = async (): Promise<Runtime> => {
    const started = await startRuntime('', userDir, env);
    await waitFor(() => probe()?.pid !== undefined, 10_000, 'the soak probe in Node-RED');
    return started;
  };
  const submitted = (): Set<number> => {
    const ids = new Set<number>();
    for (const entry of sandbox.requests) {
      if (entry.method !== 'POST' || entry.api === 'files' || entry.status === 429) continue;
      const id = promptIdOf(entry.body);
      if (id !== undefined) ids.add(id);
    }
    return ids;
  };
  let counter = 0;
  const send = async (count: number, targets: readonly Target[], hold = false): Promise<void> => {
    const queue = Array.from({ length: count }, () => {
      const id = ++counter;
      const target = targets[Math.floor(next() * targets.length)] as Target;
      const tag = ASYNC_TARGETS.includes(target) && !hold ? outcomeTag(next) : '';
      sent.set(id, target);
      if (hold) held.add(id);
      return { id, target, prompt: `soak-${id} a lighthouse at dusk${tag}` };
    });
    const worker = async (): Promise<void> => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        let answer = await (runtime as Runtime).call('POST', '/soak', { body: { target: item.target, prompt: item.prompt } });
        // Just after a deploy the route may not be in place yet: the message has not entered the flow.
        for (let tries = 0; answer.status === 404 && tries < 100; tries++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          answer = await (runtime as Runtime).call('POST', '/soak', { body: { target: item.target, prompt: item.prompt } });
        }
        if (answer.status !== 200) throw new Error(`Node-RED answered ${answer.status} to a soak message: ${answer.text}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  };
  const outstanding = (ids: Iterable<number>): number[] => [...ids].filter((id) => !collector.outcomes.has(id));
  /** Whether each message has reached the sandbox, or been refused before it (its error already delivered). */
  const settledSubmits = (ids: number[]): boolean => {
    const received = submitted();
    return ids.every((id) => received.has(id) || collector.outcomes.has(id));
  };
  /** Sends a batch, then jobs that stay pending while everything else finishes, so an interruption finds work only in the journal. */
  const batchThenHold = async (count: number): Promise<void> => {
    const before = counter;
    await send(count, TARGETS);
    const batch = Array.from({ length: counter - before }, (_, index) => before + 1 + index);
    await waitFor(() => settledSubmits(batch), 60_000, 'every message of the batch to be submitted or refused');
    const holdCount = Math.max(6, Math.round(count / 20));
    for (const api of ['pixeldojo', 'piapi'] as const) sandbox.scriptJobs(api, ...Array.from({ length: holdCount }, () => ({ durationMs: options.holdMs })));
    const holdStart = counter;
    await send(holdCount, ASYNC_TARGETS, true);
    const holding = Array.from({ length: counter - holdStart }, (_, index) => holdStart + 1 + index);
    await waitFor(() => settledSubmits(holding), 30_000, 'the held jobs to be submitted or refused');
    await waitFor(() => outstanding(batch).length === 0, options.holdMs * 0.8, 'every result of the batch before the interruption').catch(() =>
      options.log(`  ${outstanding(batch).length} results of the batch were still outstanding at the interruption`),
    );
  };

  try {
    for (const rule of FAULTS) sandbox.injectFault(rule);
    runtime = await start();
    const flow = soakFlow(sandbox, runtime.port, collector.port);
    await runtime.deploy(flow);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // The event-loop figures are the soak's, not Node-RED's start-up.
    await resetProbe(probeFile);
    // Open resources of an idle Node-RED with these flows, to compare with after the drain.
    const baselineResources = probe()?.resources ?? {};
    const perRound = Math.ceil(options.jobs / 4);
    options.log(`soak: ${options.jobs} jobs in 4 rounds, seed ${options.seed}, user directory ${userDir}`);

    for (const interruption of ['redeploy', 'redeploy', 'kill -9 and restart'] as const) {
      await batchThenHold(perRound);
      if (process.env.SOAK_DEBUG) for (const [id, list] of [...collector.outcomes].slice(0, 5)) options.log(`  ${id} ${sent.get(id)} ${JSON.stringify(list)}`);
      options.log(
        `  ${counter} sent, ${submitted().size} submitted, ${collector.outcomes.size} with an outcome; ${interruption} with ${outstanding(held).length} held jobs pending`,
      );
      if (interruption === 'redeploy') {
        await runtime.deploy(flow);
      } else {
        keepLoopFigures();
        await runtime.kill();
        runtime = await start();
        await resetProbe(probeFile);
      }
      if (runtime.exitCode() !== null) crashes++;
    }
    const baselineHeap = await heapAfterGc();
    await send(options.jobs - counter > 0 ? options.jobs - counter : 0, TARGETS);
    await waitFor(() => submitted().size >= sent.size && outstanding(sent.keys()).length === 0, options.drainMs, 'every result').catch(() => undefined);
    // Idle keep-alive sockets close within a few seconds; count what is still open after that.
    let openHandlesAfter: Record<string, number> = {};
    const excess = (): Record<string, number> => {
      const now = probe()?.resources ?? {};
      return Object.fromEntries(
        Object.entries(now).flatMap(([type, count]) => (count > (baselineResources[type] ?? 0) ? [[type, count - (baselineResources[type] ?? 0)]] : [])),
      );
    };
    await waitFor(() => Object.keys((openHandlesAfter = excess())).length === 0, 15_000, 'open handles to close').catch(() => undefined);
    const heapGrowthMb = ((await heapAfterGc()) - baselineHeap) / 1024 / 1024;
    keepLoopFigures();
    if (runtime.exitCode() !== null) crashes++;

    const submits = sandbox.requests.filter(
      (entry) => entry.method === 'POST' && entry.api !== 'files' && entry.status !== 429 && promptIdOf(entry.body) !== undefined,
    );
    const outcomeLists = [...sent.keys()].map((id) => collector.outcomes.get(id) ?? []);
    const errorKinds: Record<string, number> = {};
    for (const list of outcomeLists) {
      for (const outcome of list) {
        if (outcome.kind !== 'error') continue;
        const kind = (outcome.error ?? '')
          .replace(/soak-\d+.*$/, '')
          .replace(/[0-9a-f]{8,}|\d+/g, '#')
          .slice(0, 90);
        errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
      }
    }
    const answered = sandbox.requests.filter((entry) => entry.api !== 'unknown' && entry.api !== 'files');
    const received = submitted();
    return {
      jobsSubmitted: sent.size,
      submitsReceived: received.size,
      refusedBeforeSubmit: [...sent.keys()].filter((id) => !received.has(id) && collector.outcomes.get(id)?.[0]?.kind === 'error').length,
      submitsDuplicated: submits.length - new Set(submits.map((entry) => promptIdOf(entry.body))).size,
      deliveredOnce: outcomeLists.filter((list) => list.length === 1).length,
      results: outcomeLists.filter((list) => list.length === 1 && list[0]?.kind === 'result').length,
      errors: outcomeLists.filter((list) => list.length === 1 && list[0]?.kind === 'error').length,
      duplicated: outcomeLists.filter((list) => list.length > 1).length,
      lost: outcomeLists.filter((list) => list.length === 0).length,
      faultsInjected: answered.filter((entry) => entry.fault).length,
      faultedShare: answered.filter((entry) => entry.fault).length / Math.max(1, answered.length),
      received429: answered.filter((entry) => entry.status === 429).length,
      heldAcross: held.size,
      crashes,
      loopP99Ms,
      loopMaxMs,
      heapGrowthMb,
      openHandlesAfter,
      seconds: (Date.now() - started) / 1000,
      errorKinds,
    };
  } finally {
    await runtime?.stop();
    await collector.close();
    await sandbox.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}

/** The figures that break a promise of the pack; empty when every promise held. */
export function brokenPromises(report: SoakReport): string[] {
  const broken: string[] = [];
  if (report.submitsReceived + report.refusedBeforeSubmit !== report.jobsSubmitted) {
    broken.push(
      `${report.jobsSubmitted} jobs submitted, but the sandbox received ${report.submitsReceived} and ${report.refusedBeforeSubmit} were refused before sending`,
    );
  }
  if (report.submitsDuplicated > 0) broken.push(`${report.submitsDuplicated} paid submits sent twice`);
  if (report.lost > 0) broken.push(`${report.lost} results lost`);
  if (report.duplicated > 0) broken.push(`${report.duplicated} results delivered more than once`);
  if (report.crashes > 0) broken.push(`Node-RED crashed ${report.crashes} time(s)`);
  if (Object.keys(report.openHandlesAfter).length > 0) broken.push(`open handles after: ${JSON.stringify(report.openHandlesAfter)}`);
  return broken;
}

/** The report as the soak prints it. */
export function formatReport(report: SoakReport): string {
  const lines = [
    `jobs submitted                ${report.jobsSubmitted}`,
    `submits the sandbox received  ${report.submitsReceived} (sent twice: ${report.submitsDuplicated}; refused before sending, through Catch: ${report.refusedBeforeSubmit})`,
    `results delivered exactly once ${report.deliveredOnce} (${report.results} results, ${report.errors} errors through Catch)`,
    `results delivered twice       ${report.duplicated}`,
    `results lost                  ${report.lost}`,
    `jobs held across interruptions ${report.heldAcross}`,
    `answers faulted               ${report.faultsInjected} (${(report.faultedShare * 100).toFixed(1)}% of provider requests)`,
    `429s received                 ${report.received429}`,
    `Node-RED crashes              ${report.crashes}`,
    `event-loop delay p99 / max    ${report.loopP99Ms.toFixed(1)} ms / ${report.loopMaxMs.toFixed(1)} ms`,
    `heap growth after drain       ${report.heapGrowthMb.toFixed(1)} MB`,
    `open handles after            ${Object.keys(report.openHandlesAfter).length === 0 ? 0 : JSON.stringify(report.openHandlesAfter)}`,
    `wall time                     ${report.seconds.toFixed(0)} s`,
    'errors by kind:',
    ...Object.entries(report.errorKinds)
      .sort((a, b) => b[1] - a[1])
      .map(([kind, count]) => `  ${String(count).padStart(5)}  ${kind}`),
  ];
  return lines.join('\n');
}
