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

/** Replaces `file` whole or not at all: readers see the old content or the new, never a mix. */
export async function writeFileAtomically(file: string, content: string): Promise<void> {
  const temporary = temporaryBeside(file);
  try {
    await fs.promises.writeFile(temporary, content, { flag: 'wx' });
    await fs.promises.rename(temporary, file);
  } catch (error) {
    await removeQuietly(temporary);
    throw error;
  }
}
