import path from 'node:path';
import type { NodeAPI } from 'node-red';
import { z } from 'zod';
import { RecentItems } from '../../lib/storage/recent';
import type { BudgetReport } from '../../lib/providers';
import { handedOnJobs } from '../../lib/jobs/complete';
import { journalOf } from './jobs';
import type { ProviderConfigNode } from './provider';

/** The comms topic the image-gen sidebar listens on: something it shows changed, so it asks again. */
export const OVERVIEW_TOPIC = 'image-gen/overview';
/** Pending jobs listed, those waiting longest first: the sidebar shows them and the total. */
const JOBS_LISTED = 100;
/** Saved images kept for the sidebar, newest first. */
const IMAGES_KEPT = 12;
/** At most one change notice per this long, however busy a batch is. */
export const NOTICE_EVERY_MS = 500;

const savedImageNoteSchema = z.object({
  node: z.string(),
  file: z.string(),
  /** The thumbnail, as a data: URL. */
  src: z.string().startsWith('data:image/'),
  prompt: z.string().optional(),
  seed: z.number().optional(),
  at: z.string(),
});
export type SavedImageNote = z.infer<typeof savedImageNoteSchema>;

/** The file, in the user directory, that keeps the latest saved images for the sidebar across restarts. */
export const RECENT_IMAGES_FILE = 'image-gen-recent-images.jsonl';
/** Per user directory ('' for none: kept in memory only). */
const recentImages = new Map<string, RecentItems<SavedImageNote>>();

function recentImagesOf(RED: NodeAPI): RecentItems<SavedImageNote> {
  const userDir = RED.settings.userDir ?? '';
  let images = recentImages.get(userDir);
  if (!images) {
    const file = userDir ? path.join(userDir, RECENT_IMAGES_FILE) : undefined;
    images = new RecentItems(
      IMAGES_KEPT,
      (image) => image.file,
      savedImageNoteSchema,
      file,
      (message) => RED.log.warn(`[image-gen] ${message}`),
    );
    recentImages.set(userDir, images);
  }
  return images;
}

let noticeTimer: NodeJS.Timeout | undefined;

/** Tells open editors that jobs, spending or images changed; throttled, so a busy flow sends a notice per half second at most. */
export function overviewChanged(RED: NodeAPI): void {
  if (noticeTimer) return;
  noticeTimer = setTimeout(() => {
    noticeTimer = undefined;
    RED.comms.publish(OVERVIEW_TOPIC, { at: Date.now() }, false);
  }, NOTICE_EVERY_MS);
  noticeTimer.unref();
}

/** Keeps a saved image for the sidebar (its thumbnail, file, prompt and seed), across restarts where there is a user directory. */
export function imageSaved(RED: NodeAPI, note: SavedImageNote): void {
  recentImagesOf(RED)
    .add(note)
    .catch((error: unknown) =>
      RED.log.warn(`[image-gen] the sidebar's latest images could not be kept: ${error instanceof Error ? error.message : String(error)}`),
    )
    .finally(() => overviewChanged(RED));
}

/** A node's name as the editor labels it, for lists that name nodes. */
function nodeName(RED: NodeAPI, id: string): string | undefined {
  const node = RED.nodes.getNode(id) as { name?: string; type?: string } | null;
  return node ? node.name || node.type : undefined;
}

export interface Overview {
  jobs: { total: number; listed: Array<{ node: string; nodeName?: string; provider: string; model: string; id?: string; state: string; ageSeconds: number }> };
  spend: Array<{ config: string; name: string; simulated: boolean; budget: Pick<BudgetReport, 'day' | 'limit' | 'spent' | 'submits'> }>;
  images: SavedImageNote[];
}

/**
 * What the image-gen sidebar shows: the pending jobs (those the journal holds, waited for by their
 * nodes, then those handed on to the flow that no job-poll has taken yet), each provider config's
 * spending today against its budget, and the latest saved images. Labels and totals only: no
 * credential, no message. It reads the JOBS_LISTED jobs waiting longest, however many are pending.
 */
export async function overviewOf(RED: NodeAPI): Promise<Overview> {
  const journal = journalOf(RED);
  if (journal) await journal.load();
  const now = Date.now();
  const age = (since: number) => Math.max(0, Math.round((now - since) / 1000));
  const listed: Overview['jobs']['listed'] = (journal?.oldest(JOBS_LISTED) ?? []).map((entry) => ({
    node: entry.nodeId,
    nodeName: nodeName(RED, entry.nodeId),
    provider: entry.job.provider,
    model: entry.job.model,
    id: entry.job.id,
    state: entry.job.id ? entry.job.status : 'submitting',
    ageSeconds: age(Date.parse(entry.submittedAt)),
  }));
  const handedOn = handedOnJobs(JOBS_LISTED - listed.length);
  for (const { job, owner, since } of handedOn.oldest) {
    listed.push({
      node: owner ?? '',
      nodeName: owner && nodeName(RED, owner),
      provider: job.provider,
      model: job.model,
      id: job.id,
      state: 'handed on',
      ageSeconds: age(since),
    });
  }
  const spend: Overview['spend'] = [];
  RED.nodes.eachNode((node: { id: string; type: string }) => {
    if (node.type !== 'provider-config') return;
    const connection = (RED.nodes.getNode(node.id) as ProviderConfigNode | null)?.connection;
    if (!connection) return;
    const { day, limit, spent, submits } = connection.budget.report();
    spend.push({ config: node.id, name: connection.label, simulated: connection.simulated, budget: { day, limit, spent, submits } });
  });
  const images = recentImagesOf(RED);
  await images.load();
  return { jobs: { total: (journal?.size ?? 0) + handedOn.total, listed }, spend, images: images.list() };
}
