import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { jobSchema } from '../contract';
import type { JobInfo } from '../contract';
import type { JobRecorder } from './complete';
import { AppendLog } from '../storage/append-log';
import { writeFileAtomically } from '../storage/atomic';

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

/** The inverse of `serialisableMessage` for Buffers; `readBlob` reads those the journal stored beside its file. */
export function restoreMessage(saved: Record<string, unknown>, readBlob?: (digest: string) => Buffer): Record<string, unknown> {
  const restore = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(restore);
    if (value && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      if (typeof record.$buffer === 'string' && Object.keys(record).length === 1) return Buffer.from(record.$buffer, 'base64');
      if (typeof record.$blob === 'string' && Object.keys(record).length === 1 && readBlob) return readBlob(record.$blob);
      return Object.fromEntries(Object.entries(record).map(([key, item]) => [key, restore(item)]));
    }
    return value;
  };
  return restore(saved) as Record<string, unknown>;
}

export const JOURNAL_FILE = 'image-gen-jobs.jsonl';
/** Buffers in a message from this size up are stored once in a file beside the journal (named by their SHA-256), not in its records. */
const BLOB_MIN_BYTES = 16 * 1024;
const DIGEST = /^[0-9a-f]{64}$/;
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
  /** Where large Buffers are kept, and how many live entries refer to each. */
  readonly blobDir: string;
  private readonly blobRefs = new Map<string, number>();
  /** Blob writes and removals, in order, so a removal never races a write of the same content. */
  private blobWork: Promise<void> = Promise.resolve();
  private replaying = false;

  constructor(
    readonly file: string,
    private readonly warn: (message: string) => void,
  ) {
    this.blobDir = `${file.replace(/\.jsonl$/, '')}.blobs`;
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

  /**
   * The `count` entries journaled first (those waiting longest): a Map keeps insertion order, and a
   * change to an entry keeps its place, so this reads `count` entries however many are pending.
   */
  oldest(count: number): JournalEntry[] {
    const found: JournalEntry[] = [];
    for (const entry of this.entries.values()) {
      if (found.length >= count) break;
      found.push(entry);
    }
    return found;
  }

  /** The entry of the job whose webhook secret has this digest. */
  bySecret(hash: string): JournalEntry | undefined {
    const key = this.bySecretHash.get(hash);
    return key === undefined ? undefined : this.entries.get(key);
  }

  async add(entry: JournalEntry): Promise<void> {
    await this.load();
    const stored = await this.withBlobs(entry);
    await this.log.append({ put: stored });
  }

  /** Resolves once the blob files removed with their last entry so far are gone. */
  blobsSettled(): Promise<void> {
    return this.blobWork;
  }

  /** The message an entry was journaled with, its Buffers restored (large ones read from beside the journal). */
  restore(entry: JournalEntry): Record<string, unknown> {
    return restoreMessage(entry.msg, (digest) => {
      try {
        return fs.readFileSync(path.join(this.blobDir, DIGEST.test(digest) ? digest : 'invalid'));
      } catch {
        // The job is paid for and its result still comes; only this part of its message is gone.
        this.warn(`a Buffer of the message of job ${entry.job.id ?? entry.key} is missing from ${this.blobDir}: it is restored empty`);
        return Buffer.alloc(0);
      }
    });
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
      const previous = this.entries.get(record.put.key);
      this.entries.set(record.put.key, record.put);
      if (previous?.webhookSecretHash) this.bySecretHash.delete(previous.webhookSecretHash);
      if (record.put.webhookSecretHash) this.bySecretHash.set(record.put.webhookSecretHash, record.put.key);
      // The new entry's blobs are counted before the old one's are let go: a patch keeps them.
      this.countBlobs(record.put.msg, 1);
      if (previous) this.countBlobs(previous.msg, -1);
    } else if ('patch' in record) {
      const entry = this.entries.get(record.patch.key);
      if (entry) this.apply({ put: { ...entry, ...record.patch.change, key: entry.key } });
    } else {
      const entry = this.entries.get(record.del);
      if (!entry) return;
      this.entries.delete(record.del);
      if (entry.webhookSecretHash) this.bySecretHash.delete(entry.webhookSecretHash);
      this.countBlobs(entry.msg, -1);
    }
  }

  /** Applies an entry with its large Buffers stored beside the journal; the references it holds keep them. */
  private async withBlobs(entry: JournalEntry): Promise<JournalEntry> {
    const stored = { ...entry, msg: (await this.storeBlobs(entry.msg)) as Record<string, unknown> };
    this.apply({ put: stored });
    // storeBlobs held each blob for the time between its write and this entry: the entry holds them now.
    this.countBlobs(stored.msg, -1);
    return stored;
  }

  /**
   * Replaces large Buffers (as serialisableMessage writes them) with references to files beside the
   * journal, holding a reference to each from before its write so no removal can race it.
   */
  private async storeBlobs(value: unknown): Promise<unknown> {
    if (Array.isArray(value)) return Promise.all(value.map((item) => this.storeBlobs(item)));
    if (!value || typeof value !== 'object') return value;
    const record = value as Record<string, unknown>;
    if (typeof record.$buffer === 'string' && Object.keys(record).length === 1) {
      const bytes = Buffer.from(record.$buffer, 'base64');
      if (bytes.length < BLOB_MIN_BYTES) return value;
      const digest = createHash('sha256').update(bytes).digest('hex');
      this.blobRefs.set(digest, (this.blobRefs.get(digest) ?? 0) + 1);
      const file = path.join(this.blobDir, digest);
      await this.blobTask(async () => {
        if (fs.existsSync(file)) return;
        await fs.promises.mkdir(this.blobDir, { recursive: true });
        await writeFileAtomically(file, bytes, { durable: true });
      });
      return { $blob: digest };
    }
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(record)) out[key] = await this.storeBlobs(item);
    return out;
  }

  private countBlobs(value: unknown, change: 1 | -1): void {
    if (Array.isArray(value)) return value.forEach((item) => this.countBlobs(item, change));
    if (!value || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    if (typeof record.$blob !== 'string') return Object.values(record).forEach((item) => this.countBlobs(item, change));
    const digest = record.$blob;
    const count = (this.blobRefs.get(digest) ?? 0) + change;
    if (count > 0) {
      this.blobRefs.set(digest, count);
      return;
    }
    this.blobRefs.delete(digest);
    // While the log is replayed, unreferenced blobs are collected once at the end instead.
    if (!this.replaying && DIGEST.test(digest)) {
      void this.blobTask(async () => {
        if (!this.blobRefs.has(digest)) await fs.promises.rm(path.join(this.blobDir, digest), { force: true });
      });
    }
  }

  private blobTask(task: () => Promise<void>): Promise<void> {
    const run = this.blobWork.then(task);
    this.blobWork = run.catch(() => undefined);
    return run;
  }

  /** Removes blob files no entry refers to (left by a crash between a blob and its record). */
  private async collectBlobs(): Promise<void> {
    const names = await fs.promises.readdir(this.blobDir).catch(() => [] as string[]);
    for (const name of names) if (!this.blobRefs.has(name)) await fs.promises.rm(path.join(this.blobDir, name), { force: true });
  }

  private async read(): Promise<void> {
    try {
      this.replaying = true;
      for (const record of await this.log.read()) this.apply(record);
    } catch (error) {
      // Unreadable (a folder of that name, no permission): start empty rather than stop Node-RED.
      // Writes will fail the same way, so paid submits are refused with that error until it is fixed.
      const code = (error as NodeJS.ErrnoException).code;
      this.warn(`the pending-job journal ${this.file} cannot be read (${code ?? String(error)}): no journaled job was resumed; fix or remove it`);
      return;
    } finally {
      this.replaying = false;
    }
    await this.collectBlobs();
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
      const stored = await this.withBlobs(entry);
      await this.log.append({ put: stored });
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

/**
 * Records a job a node will wait for, with the message that started it, from just before its
 * submit is sent until it ends. `key` continues an entry read back from the journal.
 */
export function journalRecorder(
  journal: JobJournal,
  owner: Pick<JournalEntry, 'key' | 'nodeId' | 'providerId'> & { msg: Record<string, unknown> },
): JobRecorder {
  // Serialised when first journaled: paths that never journal (an immediate answer) never pay for it.
  let saved: Record<string, unknown> | undefined;
  let webhookSecretHash: string | undefined;
  const record = (job: JobInfo) =>
    journal.add({
      key: owner.key,
      nodeId: owner.nodeId,
      providerId: owner.providerId,
      job,
      webhookSecretHash,
      msg: (saved ??= serialisableMessage(owner.msg)),
      submittedAt: job.submittedAt ?? new Date().toISOString(),
    });
  return {
    submitting: (job, hash) => {
      webhookSecretHash = hash;
      return record(job);
    },
    submitted: (job, hash) => {
      webhookSecretHash ??= hash;
      return record(job);
    },
    ended: () => journal.remove(owner.key),
  };
}

/** What to tell the user about a journaled job whose node no longer exists: its result was paid for. */
export function orphanReport(entry: JournalEntry): string {
  const { provider, model, id, pollUrl } = entry.job;
  const job = JSON.stringify({ provider, model, id, status: 'pending', ...(pollUrl ? { pollUrl } : {}), params: {} });
  return (
    `the ${provider} job ${id ?? '(id unknown: Node-RED stopped during its submit)'} was submitted by node ${entry.nodeId}, which no longer exists, ` +
    `so its result was not collected. ` +
    (id ? `To collect it, send msg.job = ${job} to a job-poll node.` : `Look for it in ${provider}'s job list.`)
  );
}
