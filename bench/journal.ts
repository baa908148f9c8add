import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobJournal } from '../lib/jobs/journal';
import type { JournalEntry } from '../lib/jobs/journal';

/** A journal entry the size a flux-generate job makes (prompt, params and a small message). */
function entry(index: number): JournalEntry {
  return {
    key: `key-${index.toString().padStart(6, '0')}-${Math.random().toString(36).slice(2, 10)}`,
    nodeId: 'gen',
    providerId: 'cfg',
    job: {
      provider: 'pixeldojo',
      model: 'flux-dev',
      id: `job_${index}`,
      status: 'pending',
      params: { prompt: `a lighthouse at dusk, number ${index}`, aspect_ratio: '1:1' },
    },
    msg: { topic: 'nightly batch', payload: `a lighthouse at dusk, number ${index}`, row: index },
    submittedAt: new Date().toISOString(),
  };
}

export interface JournalScale {
  pending: number;
  /** ms per add, min / median / max over the repeats. */
  perAddMs: [number, number, number];
  bytesPerAdd: number;
  fillRssGrowthMb: number;
  /** ms per sidebar listing (the jobs waiting longest), median over the repeats. */
  perListingMs: number;
}

const ADDS = 200;
/** Listings timed per pass: what the sidebar asks for on each refresh. */
const LISTINGS = 2_000;
const LISTED = 100;

/** One pass: a journal holding `pending` entries takes ADDS more, one after another (each awaited, as submits are). */
async function pass(pending: number): Promise<{ perAddMs: number; bytesPerAdd: number; rssGrowthMb: number; perListingMs: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-bench-journal-'));
  try {
    const journal = new JobJournal(path.join(dir, 'jobs.jsonl'), () => undefined);
    const rssBefore = process.memoryUsage().rss;
    await Promise.all(Array.from({ length: pending }, (_, index) => journal.add(entry(index))));
    const rssGrowthMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
    const sizeBefore = fs.statSync(journal.file).size;
    const started = performance.now();
    for (let index = 0; index < ADDS; index++) await journal.add(entry(pending + index));
    const perAddMs = (performance.now() - started) / ADDS;
    const listingStarted = performance.now();
    for (let index = 0; index < LISTINGS; index++) journal.oldest(LISTED);
    const perListingMs = (performance.now() - listingStarted) / LISTINGS;
    return { perAddMs, bytesPerAdd: (fs.statSync(journal.file).size - sizeBefore) / ADDS, rssGrowthMb, perListingMs };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The journal's cost per submit against the number of jobs already pending: sizes interleaved, each repeated. */
export async function journalScaling(sizes: number[], repeats: number): Promise<JournalScale[]> {
  const samples = new Map<number, Array<{ perAddMs: number; bytesPerAdd: number; rssGrowthMb: number; perListingMs: number }>>(sizes.map((size) => [size, []]));
  for (let round = 0; round < repeats; round++) {
    for (const size of sizes) samples.get(size)?.push(await pass(size));
  }
  return sizes.map((pending) => {
    const runs = samples.get(pending) ?? [];
    const times = runs.map((run) => run.perAddMs).sort((a, b) => a - b);
    const listings = runs.map((run) => run.perListingMs).sort((a, b) => a - b);
    return {
      pending,
      perAddMs: [times[0] ?? 0, times[Math.floor(times.length / 2)] ?? 0, times[times.length - 1] ?? 0],
      bytesPerAdd: Math.max(...runs.map((run) => run.bytesPerAdd)),
      fillRssGrowthMb: Math.max(...runs.map((run) => run.rssGrowthMb)),
      perListingMs: listings[Math.floor(listings.length / 2)] ?? 0,
    };
  });
}
