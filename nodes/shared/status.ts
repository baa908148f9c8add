import type { Node, NodeAPI, NodeStatus } from 'node-red';
import { overviewChanged } from './overview';
import { statusKeyOf } from '../../lib/contract';
import type { Cost, Generation, JobInfo } from '../../lib/contract';
import type { Phase } from '../../lib/jobs/complete';

/** The node status every node of the pack shows: short (under 20 characters), translated. */
export interface StatusReporter {
  phase(phase: Phase, elapsedMs: number): void;
  /** local-sd: the model is loading, then each denoising step. */
  loading(): void;
  step(step: number, steps: number): void;
  /** A finished generation, or a submitted job handed on pending. */
  finished(result: Generation | JobInfo): void;
  saved(files: number): void;
  failed(error: unknown): void;
  clear(): void;
}

/** Placeholder values that make a translation come back as its template, e.g. "queued __seconds__s". */
const PLACEHOLDERS = { seconds: '__seconds__', count: '__count__', step: '__step__', steps: '__steps__', cost: '__cost__' };
const templates = new Map<string, string>();

/** What a finished generation cost, short enough for a status ("3 cr", "$0.0011"); undefined when the provider said nothing. */
function shortCost(cost: Cost | undefined): string | undefined {
  if (cost?.usd !== undefined) return `$${Number(cost.usd.toPrecision(2))}`;
  if (cost?.credits !== undefined) return `${Number(cost.credits.toPrecision(3))} cr`;
  return undefined;
}

export function statusReporter(RED: NodeAPI, node: Node): StatusReporter {
  // Each template is translated once: a translation per status update costs more than the request it reports.
  const text = (key: string, params: Record<string, number | string> = {}): string => {
    let template = templates.get(key);
    if (template === undefined) {
      template = RED._(`common.status.${key}`, PLACEHOLDERS);
      templates.set(key, template);
    }
    return template.replace(/__(\w+)__/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
  };
  // Every change of a node's state may change what the image-gen sidebar shows (its jobs, its spending).
  const show = (status: NodeStatus): void => {
    node.status(status);
    overviewChanged(RED);
  };
  return {
    phase(phase, elapsedMs) {
      const seconds = Math.round(elapsedMs / 1000);
      show({ fill: 'blue', shape: phase === 'submitting' ? 'dot' : 'ring', text: text(phase, { seconds }) });
    },
    loading() {
      show({ fill: 'blue', shape: 'ring', text: text('loading') });
    },
    step(step, steps) {
      show({ fill: 'blue', shape: 'dot', text: text('step', { step, steps }) });
    },
    finished(result) {
      if ('images' in result) {
        const cost = shortCost(result.job.cost);
        const done = cost ? text('doneCost', { count: result.images.length, cost }) : text('done', { count: result.images.length });
        show({ fill: 'green', shape: 'dot', text: done });
      } else show({ fill: 'green', shape: 'ring', text: text('submitted') });
    },
    saved(files) {
      show({ fill: 'green', shape: 'dot', text: text('saved', { count: files }) });
    },
    failed(error) {
      show({ fill: 'red', shape: 'ring', text: text(statusKeyOf(error)) });
    },
    clear() {
      node.status({});
    },
  };
}
