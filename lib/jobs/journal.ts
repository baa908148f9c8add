import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { jobSchema } from '../contract';
import { AppendLog } from '../storage/append-log';

/**
 * The pending-job journal: every paid job a node is waiting for, on disk in the Node-RED user
 * directory, so a redeploy or restart resumes it instead of losing a result that was paid for.
 */
export const journalEntrySchema = z.object({
  /** This entry's own id: written before the submit is sent, when the provider's job id is not known yet. */
  key: z.string().min(1),
  /** The node that owns the job and will deliver its result. */
  nodeId: z.string(),
  /** The provider config the job was submitted through. */
  providerId: z.string(),
  /** The job; `job.id` is missing while (or if Node-RED stopped while) the submit was in flight. */
  job: jobSchema,
  /** SHA-256 of the job's webhook secret, when it completes by webhook; the secret itself is never stored. */
  webhookSecretHash: z.string().optional(),
  /** The serialisable part of the message that started the job. */
  msg: z.record(z.string(), z.unknown()),
  submittedAt: z.string(),
  /** Set once a job whose node was removed has been reported, so it is reported only once. */
  orphanReported: z.boolean().optional(),
});
export type JournalEntry = z.infer<typeof journalEntrySchema>;

const legacyFileSchema = z.object({ version: z.literal(1), jobs: z.array(journalEntrySchema) });

/** Properties that only mean something in the running process (an HTTP request and response). */
const PROCESS_ONLY = new Set(['req', 'res', '_msgid']);

/**
 * What of a message can be written down and read back: JSON values, with Buffers kept as base64
 * (and restored by `restoreMessage`); functions, sockets and cycles are left out.
 */
export function serialisableMessage(msg: Record<string, unknown>): Record<string, unknown> {
  const seen = new WeakSet<object>();
  const copy = (value: unknown): unknown => {
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
    if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
    if (Buffer.isBuffer(value)) return { $buffer: value.toString('base64') };
    if (typeof value !== 'object' || seen.has(value)) return undefined;
    seen.add(value);
    if (Array.isArray(value)) return value.map((item) => copy(item) ?? null);
    const prototype = Object.getPrototypeOf(value) as unknown;
    if (prototype !== Object.prototype && prototype !== null) return undefined;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const copied = copy(item);
      if (copied !== undefined) out[key] = copied;
    }
    return out;
  };
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(msg)) {
    if (PROCESS_ONLY.has(key)) continue;
    const copied = copy(value);
    if (copied !== undefined) out[key] = copied;
  }
  return out;
}

/** The inverse of `serialisableMessage` for Buffers. */
export function restoreMessage(saved: Record<string, unknown>): Record<string, unknown> {
  const restore = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(restore);
    if (value && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      if (typeof record.$buffer === 'string' && Object.keys(record).length === 1) return Buffer.from(record.$buffer, 'base64');
      return Object.fromEntries(Object.entries(record).map(([key, item]) => [key, restore(item)]));
    }
    return value;
  };
  return restore(saved) as Record<string, unknown>;
}

export const JOURNAL_FILE = 'image-gen-jobs.jsonl';
/** The journal's earlier format (one JSON document, rewritten whole), read once and carried over. */
const LEGACY_JOURNAL_FILE = 'image-gen-jobs.json';

/** One change to the journal, a line of its file: an entry added, fields of one changed, one removed. */
const journalRecordSchema = z.union([
  z.object({ put: journalEntrySchema }),
  z.object({ patch: z.object({ key: z.string(), change: journalEntrySchema.omit({ key: true }).partial() }) }),
  z.object({ del: z.string() }),
]);
type JournalRecord = z.infer<typeof journalRecordSchema>;

/**
 * The journal, kept in memory and on disk as an append-only log (lib/storage/append-log.ts): each
 * add, update and remove writes one line, so its cost does not grow with the number of pending jobs;
 * a message is written once, with its entry. A journal that cannot be read is reported with a
 * warning and starts empty: it never stops Node-RED.
 */
export class JobJournal {
  private entries = new Map<string, JournalEntry>();
  /** Entries by their webhook secret's digest, so a delivery finds its job without a scan. */
  private bySecretHash = new Map<string, string>();
  private loaded?: Promise<void>;
  private readonly log: AppendLog<JournalRecord>;

  constructor(
    readonly file: string,
    private readonly warn: (message: string) => void,
  ) {
    this.log = new AppendLog(file, journalRecordSchema, {
      warn: (message) => this.warn(`the pending-job journal: ${message}`),
      snapshot: () => [...this.entries.values()].map((entry) => ({ put: entry })),
      liveRecords: () => this.entries.size,
    });
  }

  /** Reads the file once; later calls wait for that first read. */
  load(): Promise<void> {
    this.loaded ??= this.read();
    return this.loaded;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Every entry: read at a deploy or restart, never per message or delivery. */
  list(): JournalEntry[] {
    return [...this.entries.values()];
  }

  /** The entry of the job whose webhook secret has this digest. */
  bySecret(hash: string): JournalEntry | undefined {
    const key = this.bySecretHash.get(hash);
    return key === undefined ? undefined : this.entries.get(key);
  }

  async add(entry: JournalEntry): Promise<void> {
    await this.load();
    this.apply({ put: entry });
    await this.log.append({ put: entry });
  }

  async update(key: string, change: Partial<Omit<JournalEntry, 'key'>>): Promise<void> {
    await this.load();
    if (!this.entries.has(key)) return;
    this.apply({ patch: { key, change } });
    await this.log.append({ patch: { key, change } });
  }

  async remove(key: string): Promise<void> {
    await this.load();
    if (!this.entries.has(key)) return;
    this.apply({ del: key });
    await this.log.append({ del: key });
  }

  private apply(record: JournalRecord): void {
    if ('put' in record) {
      this.forget(record.put.key);
      this.entries.set(record.put.key, record.put);
      if (record.put.webhookSecretHash) this.bySecretHash.set(record.put.webhookSecretHash, record.put.key);
    } else if ('patch' in record) {
      const entry = this.entries.get(record.patch.key);
      if (entry) this.apply({ put: { ...entry, ...record.patch.change, key: entry.key } });
    } else {
      this.forget(record.del);
    }
  }

  private forget(key: string): void {
    const hash = this.entries.get(key)?.webhookSecretHash;
    if (hash) this.bySecretHash.delete(hash);
    this.entries.delete(key);
  }

  private async read(): Promise<void> {
    try {
      for (const record of await this.log.read()) this.apply(record);
    } catch (error) {
      // Unreadable (a folder of that name, no permission): start empty rather than stop Node-RED.
      // Writes will fail the same way, so paid submits are refused with that error until it is fixed.
      const code = (error as NodeJS.ErrnoException).code;
      this.warn(`the pending-job journal ${this.file} cannot be read (${code ?? String(error)}): no journaled job was resumed; fix or remove it`);
      return;
    }
    await this.carryOverLegacy();
  }

  /** Moves the entries of a journal in the earlier format into the log, then removes that file. */
  private async carryOverLegacy(): Promise<void> {
    const legacy = path.join(path.dirname(this.file), LEGACY_JOURNAL_FILE);
    let text: string;
    try {
      text = await fs.promises.readFile(legacy, 'utf8');
    } catch {
      return;
    }
    let parsed: z.infer<typeof legacyFileSchema> | undefined;
    try {
      const result = legacyFileSchema.safeParse(JSON.parse(text));
      if (result.success) parsed = result.data;
    } catch {
      parsed = undefined;
    }
    if (!parsed) {
      const aside = `${legacy}.corrupt-${Date.now()}`;
      await fs.promises.rename(legacy, aside).catch(() => undefined);
      this.warn(`the pending-job journal could not be read; it was moved to ${aside}. Jobs listed in it were not resumed: check them at the provider`);
      return;
    }
    for (const entry of parsed.jobs) {
      if (this.entries.has(entry.key)) continue;
      this.apply({ put: entry });
      await this.log.append({ put: entry });
    }
    await fs.promises.rm(legacy, { force: true });
  }
}

const journals = new Map<string, JobJournal>();

/** The journal of a user directory, shared by every node of the runtime. */
export function journalFor(userDir: string, warn: (message: string) => void): JobJournal {
  const file = path.join(userDir, JOURNAL_FILE);
  let journal = journals.get(file);
  if (!journal) {
    journal = new JobJournal(file, warn);
    journals.set(file, journal);
  }
  return journal;
}
