import fs from 'node:fs';
import type { JournalEntry } from '../../lib/jobs/journal';

/** The entries a journal file holds, read by replaying its lines as the format says (put, patch, del). */
export function journaledJobs(file: string): JournalEntry[] {
  if (!fs.existsSync(file)) return [];
  const entries = new Map<string, JournalEntry>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    let record: { put?: JournalEntry; patch?: { key: string; change: Partial<JournalEntry> }; del?: string };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      continue;
    }
    if (record.put) entries.set(record.put.key, record.put);
    const patched = record.patch && entries.get(record.patch.key);
    if (record.patch && patched) entries.set(patched.key, { ...patched, ...record.patch.change });
    if (record.del) entries.delete(record.del);
  }
  return [...entries.values()];
}

/** Writes a journal file holding these entries, as Node-RED would have left it. */
export function writeJournal(file: string, entries: JournalEntry[]): void {
  fs.writeFileSync(file, entries.map((entry) => `${JSON.stringify({ put: entry })}\n`).join(''));
}
