import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { removeQuietly, writeFileAtomically } from './atomic';

/**
 * The last preview of each save-image node, in memory and in one small file per node (so the editor
 * shows it again after a restart). Each save rewrites only its own node's file: the cost does not
 * grow with the number of nodes or images.
 */
export class PreviewStore {
  private readonly latest = new Map<string, string>();

  /** `directory` is where the files go (in the user directory); without one, previews live in memory only. */
  constructor(private readonly directory?: string) {}

  async set(nodeId: string, src: string): Promise<void> {
    this.latest.set(nodeId, src);
    if (!this.directory) return;
    await mkdir(this.directory, { recursive: true });
    await writeFileAtomically(this.fileOf(this.directory, nodeId), src);
  }

  async get(nodeId: string): Promise<string | undefined> {
    const known = this.latest.get(nodeId);
    if (known !== undefined || !this.directory) return known;
    const stored = await readFile(this.fileOf(this.directory, nodeId), 'utf8').catch(() => undefined);
    if (stored?.startsWith('data:image/')) this.latest.set(nodeId, stored);
    return this.latest.get(nodeId);
  }

  async remove(nodeId: string): Promise<void> {
    this.latest.delete(nodeId);
    if (this.directory) await removeQuietly(this.fileOf(this.directory, nodeId));
  }

  private fileOf(directory: string, nodeId: string): string {
    return path.join(directory, `${nodeId.replace(/[^\w-]/g, '_')}.txt`);
  }
}
