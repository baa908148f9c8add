/**
 * `npm run soak`: the chaos soak at full size (loopback only, a few minutes at most).
 * Options: --jobs N (default 3000), --seed N (default 1). Exits 1 if a promise is broken.
 */
import { brokenPromises, formatReport, runSoak } from './chaos';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive whole number`);
  return value;
}

runSoak({ jobs: option('jobs', 3000), seed: option('seed', 1), holdMs: 20_000, drainMs: 120_000, log: (line) => console.log(line) }).then(
  (report) => {
    console.log(formatReport(report));
    const broken = brokenPromises(report);
    for (const line of broken) console.log(`BROKEN: ${line}`);
    console.log(broken.length === 0 ? 'every promise held' : `${broken.length} promise(s) broken`);
    process.exitCode = broken.length === 0 ? 0 : 1;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
