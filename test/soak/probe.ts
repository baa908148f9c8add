/**
 * Preloaded into the Node-RED a soak drives (NODE_OPTIONS=--require): every 250 ms it writes the
 * event-loop delay, heap and open resources to SOAK_PROBE_FILE. When SOAK_PROBE_FILE.gc appears it
 * collects garbage first (outside the delay histogram) and records the heap after it.
 */
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

const file = process.env.SOAK_PROBE_FILE;
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
    if (fs.existsSync(`${file}.gc`)) {
      delay.disable();
      collect();
      heapAfterGc = process.memoryUsage().heapUsed;
      fs.rmSync(`${file}.gc`, { force: true });
      delay.enable();
    }
    const { heapUsed, rss } = process.memoryUsage();
    const snapshot = {
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
