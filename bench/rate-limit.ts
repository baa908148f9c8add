import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JobInfo } from '../lib/contract';
import { JobJournal } from '../lib/jobs/journal';
import type { JobRecorder } from '../lib/jobs/complete';
import { submit } from '../lib/jobs/submit';
import { pixeldojoAdapter } from '../lib/providers/pixeldojo';
import { ProviderConnection } from '../lib/providers';
import { SANDBOX_API_KEY, startSandbox } from '../lib/sandbox';

export interface RateLimitHeld {
  path: 'jobs' | 'flux';
  /** Requests the provider accepted, and what its limit allowed over the run. */
  accepted: number;
  allowed: number;
  refused429: number;
}

const SUBMITTERS = 64;
const RPM = 60;

/**
 * 64 submitters keep PixelDojo's jobs path (journaled before each send, as a node does) and its
 * /flux path busy through configs of 60 requests a minute, each against a provider that answers 429
 * above 60 requests in any sliding minute: the pack must stay under the limit and use most of it.
 */
export async function rateLimitHeld(seconds: number): Promise<RateLimitHeld[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-bench-rate-'));
  try {
    return await Promise.all((['jobs', 'flux'] as const).map((kind) => onePath(kind, seconds, path.join(dir, `${kind}.jsonl`))));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function onePath(kind: 'jobs' | 'flux', seconds: number, journalFile: string): Promise<RateLimitHeld> {
  const sandbox = await startSandbox({ ratePerMinute: RPM, jobDurationMs: 200, credits: 1e9 });
  const connection = new ProviderConnection({
    name: `bench ${kind}`,
    config: { kind: 'pixeldojo', baseUrl: sandbox.baseUrl('pixeldojo'), rpm: String(RPM), concurrency: String(SUBMITTERS) },
    credentials: { apiKey: SANDBOX_API_KEY },
  });
  const journal = new JobJournal(journalFile, () => undefined);
  const stop = new AbortController();
  // Every submitter's requests listen to the one stop signal.
  setMaxListeners(SUBMITTERS * 4, stop.signal);
  const recorder = (): JobRecorder => {
    const key = randomUUID();
    const record = (job: JobInfo) =>
      journal.add({ key, nodeId: 'bench', providerId: 'bench', job, msg: { topic: 'bench' }, submittedAt: new Date().toISOString() });
    return { submitting: record, submitted: record, ended: () => journal.remove(key) };
  };
  const started = Date.now();
  const timer = setTimeout(() => stop.abort(), seconds * 1000);
  const submitter = async (): Promise<void> => {
    while (!stop.signal.aborted) {
      const request = { prompt: 'a lighthouse at dusk', model: kind === 'jobs' ? 'flux-dev' : 'flux-pro', params: {} };
      const options = { completion: 'wait' as const, download: false, signal: stop.signal, poll: { initialDelayMs: 100, maxDelayMs: 400 } };
      const send = async () => {
        const submission = await pixeldojoAdapter.prepare(request, { endpoint: kind }, await connection.submitContext('pixeldojo', stop.signal));
        return submit(connection, 'pixeldojo', submission, kind === 'jobs' ? { ...options, recorder: recorder() } : options);
      };
      await send().catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: SUBMITTERS }, submitter));
  clearTimeout(timer);
  const elapsedMinutes = (Date.now() - started) / 60_000;
  const answered = sandbox.requestsTo('pixeldojo');
  await connection.close();
  await sandbox.close();
  return {
    path: kind,
    accepted: answered.filter((entry) => entry.status !== undefined && entry.status !== 429).length,
    allowed: Math.floor(RPM * elapsedMinutes),
    refused429: answered.filter((entry) => entry.status === 429).length,
  };
}
