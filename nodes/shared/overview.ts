import type { NodeAPI } from 'node-red';
import type { BudgetReport } from '../../lib/providers';
import { journalOf } from './jobs';
import type { ProviderConfigNode } from './provider';

/** The comms topic the image-gen sidebar listens on: something it shows changed, so it asks again. */
export const OVERVIEW_TOPIC = 'image-gen/overview';
/** Pending jobs listed, newest first: the sidebar shows the latest ones and the total. */
const JOBS_LISTED = 100;
/** Saved images kept for the sidebar, newest first. */
const IMAGES_KEPT = 12;
/** At most one change notice per this long, however busy a batch is. */
const NOTICE_EVERY_MS = 500;

export interface SavedImageNote {
  node: string;
  file: string;
  src: string;
  prompt?: string;
  seed?: number;
  at: string;
}

const images: SavedImageNote[] = [];
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

/** Keeps a saved image for the sidebar (its thumbnail, file, prompt and seed). */
export function imageSaved(RED: NodeAPI, note: SavedImageNote): void {
  images.unshift(note);
  images.length = Math.min(images.length, IMAGES_KEPT);
  overviewChanged(RED);
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
 * What the image-gen sidebar shows: the jobs the journal holds pending, each provider config's spending
 * today against its budget, and the latest saved images. Labels and totals only: no credential, no message.
 */
export async function overviewOf(RED: NodeAPI): Promise<Overview> {
  const journal = journalOf(RED);
  const entries = journal ? (await journal.load(), journal.list()) : [];
  const now = Date.now();
  const listed = entries
    .slice(-JOBS_LISTED)
    .reverse()
    .map((entry) => ({
      node: entry.nodeId,
      nodeName: nodeName(RED, entry.nodeId),
      provider: entry.job.provider,
      model: entry.job.model,
      id: entry.job.id,
      state: entry.job.id ? entry.job.status : 'submitting',
      ageSeconds: Math.max(0, Math.round((now - Date.parse(entry.submittedAt)) / 1000)),
    }));
  const spend: Overview['spend'] = [];
  RED.nodes.eachNode((node: { id: string; type: string }) => {
    if (node.type !== 'provider-config') return;
    const connection = (RED.nodes.getNode(node.id) as ProviderConfigNode | null)?.connection;
    if (!connection) return;
    const { day, limit, spent, submits } = connection.budget.report();
    spend.push({ config: node.id, name: connection.label, simulated: connection.simulated, budget: { day, limit, spent, submits } });
  });
  return { jobs: { total: entries.length, listed }, spend, images: [...images] };
}
