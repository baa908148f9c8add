import type { z } from 'zod';
import { AppendLog } from './append-log';

/**
 * The newest `keep` items of a kind (the sidebar's latest saved images), newest first, in memory
 * and, given a file, in an append-only log (the pack's one durable store), so they outlive a
 * restart. An item costs one line; the file is compacted to the items kept once it holds four
 * times as many, so its size and the cost of an item stay constant however many are added.
 * An item with the key of one kept replaces it.
 */
export class RecentItems<T> {
  private items: T[] = [];
  private loaded?: Promise<void>;
  private readonly log?: AppendLog<T>;

  constructor(
    private readonly keep: number,
    private readonly keyOf: (item: T) => string,
    schema: z.ZodType<T>,
    file: string | undefined,
    private readonly warn: (message: string) => void,
  ) {
    this.log =
      file === undefined
        ? undefined
        : new AppendLog(file, schema, {
            warn,
            // Oldest first, as they were added: replaying the file gives the same list.
            snapshot: () => [...this.items].reverse(),
            liveRecords: () => this.items.length,
            minLinesBeforeCompaction: 4 * keep,
          });
  }

  /** Reads the file once; one that cannot be read is reported and the list starts empty. */
  load(): Promise<void> {
    this.loaded ??= (this.log?.read() ?? Promise.resolve([])).then(
      (records) => records.forEach((record) => this.remember(record)),
      (error: unknown) => this.warn(`${this.log?.file} could not be read, and starts empty: ${error instanceof Error ? error.message : String(error)}`),
    );
    return this.loaded;
  }

  /** The items kept, newest first. */
  list(): T[] {
    return [...this.items];
  }

  /** Keeps an item (dropping the oldest beyond `keep`); resolves once it is on disk. */
  async add(item: T): Promise<void> {
    await this.load();
    this.remember(item);
    await this.log?.append(item);
  }

  private remember(item: T): void {
    const key = this.keyOf(item);
    this.items = [item, ...this.items.filter((kept) => this.keyOf(kept) !== key)].slice(0, this.keep);
  }
}
