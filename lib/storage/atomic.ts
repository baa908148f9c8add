import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** A temporary name beside `file`, hidden and unique, so a rename onto `file` stays on one filesystem. */
export function temporaryBeside(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
}

export async function removeQuietly(file: string): Promise<void> {
  await fs.promises.rm(file, { force: true }).catch(() => undefined);
}

/**
 * Replaces `file` whole or not at all: readers see the old content or the new, never a mix. `durable`
 * flushes the new content to disk before the rename, so a power cut cannot leave an empty file.
 */
export async function writeFileAtomically(file: string, content: string | Uint8Array, options: { durable?: boolean } = {}): Promise<void> {
  const temporary = temporaryBeside(file);
  try {
    const handle = await fs.promises.open(temporary, 'wx');
    try {
      await handle.writeFile(content);
      if (options.durable) await handle.datasync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(temporary, file);
  } catch (error) {
    await removeQuietly(temporary);
    throw error;
  }
}
