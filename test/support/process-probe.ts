/**
 * Preloaded into a Node-RED the soak or the bench drives (NODE_OPTIONS=--require): every 250 ms it writes the
 * event-loop delay, heap and open resources to PROCESS_PROBE_FILE. When PROCESS_PROBE_FILE.gc appears it
 * collects garbage first (outside the delay histogram) and records the heap after it; when
 * PROCESS_PROBE_FILE.reset appears it starts the delay histogram again (after start-up, say).
 */
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

export interface ProbeSnapshot {
  pid: number;
  loopP99Ms: number;
  loopMaxMs: number;
  heapUsed: number;
  rss: number;
  heapAfterGc?: number;
  resources: Record<string, number>;
}

/** The environment that preloads this probe into a Node-RED process, writing to `file`. */
export function probeEnv(file: string): NodeJS.ProcessEnv {
  return { ...process.env, PROCESS_PROBE_FILE: file, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${__filename}`.trim() };
}

/** Starts the probe's event-loop histogram again, and waits until it has. */
export async function resetProbe(file: string): Promise<void> {
  fs.writeFileSync(`${file}.reset`, '');
  while (fs.existsSync(`${file}.reset`)) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** The probe's latest snapshot, if it has written one. */
export function readProbe(file: string): ProbeSnapshot | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as ProbeSnapshot;
  } catch {
    return undefined;
  }
}

const file = process.env.PROCESS_PROBE_FILE;
if (file) {
  v8.setFlagsFromString('--expose-gc');
  const collect = vm.runInNewContext('gc') as () => void;
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let heapAfterGc: number | undefined;
  const resources = (): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
    return counts;
  };
  const write = (): void => {
    if (fs.existsSync(`${file}.reset`)) {
      delay.reset();
      fs.rmSync(`${file}.reset`, { force: true });
    }
    if (fs.existsSync(`${file}.gc`)) {
      delay.disable();
      collect();
      heapAfterGc = process.memoryUsage().heapUsed;
      fs.rmSync(`${file}.gc`, { force: true });
      delay.enable();
    }
    const { heapUsed, rss } = process.memoryUsage();
    const snapshot: ProbeSnapshot = {
      pid: process.pid,
      loopP99Ms: delay.percentile(99) / 1e6,
      loopMaxMs: delay.max / 1e6,
      heapUsed,
      rss,
      heapAfterGc,
      resources: resources(),
    };
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(snapshot));
    fs.renameSync(`${file}.tmp`, file);
  };
  setInterval(write, 250).unref();
}
