import fs from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { writeFileAtomically } from './atomic';

export interface AppendLogOptions<T> {
  /** Told about records skipped on reading (a torn last line after a crash, a damaged line). */
  warn: (message: string) => void;
  /** The live state as records, for compaction: replaying them alone gives the state the log holds. */
  snapshot: () => T[];
  /** How many records `snapshot` would give, without building them. */
  liveRecords: () => number;
  /** Lines the file may hold before it is compacted, whatever the live state (default 1024). */
  minLinesBeforeCompaction?: number;
}

/**
 * An append-only file of JSON records, one per line: the pack's one durable store for state that
 * changes an entry at a time (the pending-job journal, the spending ledger). A change costs one line,
 * whatever the number of entries. Records appended while a write is in progress are written together,
 * with one write and one fsync (group commit). When the file holds over four times as many records as
 * the live state, it is rewritten from the snapshot (atomically), so its size stays proportional to
 * the live state and the cost per change stays constant on average. Records must be idempotent state
 * changes (put an entry, patch fields, delete a key): a compaction may be followed by records it
 * already includes.
 */
export class AppendLog<T> {
  private batch: string[] = [];
  private waiting: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  private flushing = false;
  private lines = 0;
  /** The file ends in a torn record: it is rewritten before anything is appended after it. */
  private torn = false;

  constructor(
    readonly file: string,
    private readonly schema: z.ZodType<T>,
    private readonly options: AppendLogOptions<T>,
  ) {}

  /**
   * The records on disk, oldest first; none when the file does not exist. A line that cannot be read
   * is skipped with a warning (a torn last line is expected after a crash). Other read errors reject.
   */
  async read(): Promise<T[]> {
    let text: string;
    try {
      text = await fs.promises.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return this.records(text);
  }

  /** `read`, synchronously: for a small log read once while a node is being created. */
  readSync(): T[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return this.records(text);
  }

  private records(text: string): T[] {
    const lines = text.split('\n');
    const records: T[] = [];
    lines.forEach((line, index) => {
      if (line.trim() === '') return;
      const parsed = this.parse(line);
      if (parsed.ok) records.push(parsed.value);
      else if (index === lines.length - 1) this.options.warn(`${this.file}: its last record was cut short (Node-RED stopped while writing it) and was skipped`);
      else this.options.warn(`${this.file}: record ${index + 1} cannot be read and was skipped`);
    });
    this.lines = records.length;
    this.torn = text.length > 0 && !text.endsWith('\n');
    return records;
  }

  /** Appends a record; resolves once it is on disk (with the others written in the same batch). */
  append(record: T): Promise<void> {
    this.batch.push(`${JSON.stringify(record)}\n`);
    const written = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    if (!this.flushing) void this.flush();
    return written;
  }

  private parse(line: string): { ok: true; value: T } | { ok: false } {
    try {
      const result = this.schema.safeParse(JSON.parse(line));
      return result.success ? { ok: true, value: result.data } : { ok: false };
    } catch {
      return { ok: false };
    }
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.batch.length > 0) {
      const lines = this.batch;
      const waiting = this.waiting;
      this.batch = [];
      this.waiting = [];
      try {
        const limit = Math.max(this.options.minLinesBeforeCompaction ?? 1024, 4 * this.options.liveRecords());
        if (this.torn || this.lines + lines.length > limit) await this.compact();
        else await this.write(lines.join(''), lines.length);
        waiting.forEach(({ resolve }) => resolve());
      } catch (error) {
        // Only this batch fails: the next one tries again.
        waiting.forEach(({ reject }) => reject(error));
      }
    }
    this.flushing = false;
  }

  /** One open, write, fsync and close per batch: no descriptor is held between batches. */
  private async write(text: string, count: number): Promise<void> {
    await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
    const handle = await fs.promises.open(this.file, 'a');
    try {
      await handle.write(text);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    this.lines += count;
  }

  /** Rewrites the file as the live state; the in-memory state already holds every change batched so far. */
  private async compact(): Promise<void> {
    const records = this.options.snapshot();
    await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
    await writeFileAtomically(this.file, records.map((record) => `${JSON.stringify(record)}\n`).join(''), { durable: true });
    this.lines = records.length;
    this.torn = false;
  }
}
