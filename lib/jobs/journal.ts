import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { jobSchema } from '../contract';
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

const journalFileSchema = z.object({ version: z.literal(1), jobs: z.array(journalEntrySchema) });

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

export const JOURNAL_FILE = 'image-gen-jobs.json';

/**
 * One journal file, rewritten whole and atomically (temporary file + rename) on every change;
 * changes are queued so concurrent writers never interleave. A file that cannot be read is moved
 * aside with a warning and the journal starts empty: it never stops Node-RED.
 */
export class JobJournal {
  private entries = new Map<string, JournalEntry>();
  private writing: Promise<void> = Promise.resolve();
  private loaded?: Promise<void>;

  constructor(
    readonly file: string,
    private readonly warn: (message: string) => void,
  ) {}

  /** Reads the file once; later calls wait for that first read. */
  load(): Promise<void> {
    this.loaded ??= this.read();
    return this.loaded;
  }

  get size(): number {
    return this.entries.size;
  }

  list(): JournalEntry[] {
    return [...this.entries.values()];
  }

  async add(entry: JournalEntry): Promise<void> {
    await this.load();
    this.entries.set(entry.key, entry);
    await this.persist();
  }

  async update(key: string, change: Partial<JournalEntry>): Promise<void> {
    await this.load();
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.set(key, { ...entry, ...change });
    await this.persist();
  }

  async remove(key: string): Promise<void> {
    await this.load();
    if (this.entries.delete(key)) await this.persist();
  }

  private async read(): Promise<void> {
    let text: string;
    try {
      text = await fs.promises.readFile(this.file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // Unreadable (a folder of that name, no permission): start empty rather than stop Node-RED.
      // Writes will fail the same way, so paid submits are refused with that error until it is fixed.
      this.warn(`the pending-job journal ${this.file} cannot be read (${code ?? String(error)}): no journaled job was resumed; fix or remove it`);
      return;
    }
    let parsed: z.infer<typeof journalFileSchema> | undefined;
    try {
      const result = journalFileSchema.safeParse(JSON.parse(text));
      if (result.success) parsed = result.data;
    } catch {
      parsed = undefined;
    }
    if (!parsed) {
      const aside = `${this.file}.corrupt-${Date.now()}`;
      await fs.promises.rename(this.file, aside);
      this.warn(`the pending-job journal could not be read; it was moved to ${aside} and a new one was started. Jobs listed in it were not resumed: check them at the provider`);
      return;
    }
    this.entries = new Map(parsed.jobs.map((entry) => [entry.key, entry]));
  }

  private persist(): Promise<void> {
    const snapshot = JSON.stringify({ version: 1, jobs: this.list() }, null, 2);
    // A failed write is reported to its caller but must not stop the writes queued after it.
    this.writing = this.writing.catch(() => undefined).then(async () => {
      await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
      await writeFileAtomically(this.file, snapshot);
    });
    return this.writing;
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
