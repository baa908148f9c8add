import type { IncomingMessage, ServerResponse } from 'node:http';
import { JobStore, outcomeFromPrompt } from './jobs';
import type { JobPhase, SandboxJob } from './jobs';
import { parseJson, sendJson } from './server';
import type { SandboxMounts, SandboxState } from './server';

/** BFL's (FastAPI) error body. */
function fail(res: ServerResponse, status: number, detail: unknown): void {
  sendJson(res, status, { detail });
}

function authorised(req: IncomingMessage, res: ServerResponse, sandbox: SandboxState): boolean {
  if (req.headers['x-key'] === sandbox.options.apiKey) return true;
  fail(res, 401, 'Invalid or missing API key');
  return false;
}

/** Price per image in credits, as BFL lists it; the endpoints without width and height. */
const PRICES: Record<string, number> = {
  'flux-pro-1.1': 4,
  'flux-pro-1.1-ultra': 6,
  'flux-dev': 2.5,
  'flux-kontext-pro': 4,
  'flux-kontext-max': 8,
  'flux-pro-1.0-fill': 5,
  'flux-pro-1.0-expand': 5,
  'flux-2-pro': 3,
  'flux-2-max': 7,
  'flux-2-flex': 6,
  'flux-2-klein-4b': 1.4,
  'flux-2-klein-9b': 1.5,
};
const IMAGE_FIRST = new Set(['flux-pro-1.0-fill', 'flux-pro-1.0-expand']);

type Body = Record<string, unknown>;

/** The first documented rule a body breaks, as FastAPI's `[{loc, msg}]`. */
function problem(model: string, body: Body): Array<{ loc: string[]; msg: string }> | undefined {
  const issue = (field: string, msg: string) => [{ loc: ['body', field], msg }];
  if (IMAGE_FIRST.has(model) ? typeof body.image !== 'string' : typeof body.prompt !== 'string' || body.prompt.length === 0) {
    return issue(IMAGE_FIRST.has(model) ? 'image' : 'prompt', 'Field required');
  }
  for (const side of ['width', 'height']) {
    const value = body[side];
    if (value !== undefined && (typeof value !== 'number' || value < 256 || value > 1440 || value % 32 !== 0))
      return issue(side, 'must be a multiple of 32 from 256 to 1440');
  }
  const tolerance = body.safety_tolerance;
  if (tolerance !== undefined && (typeof tolerance !== 'number' || tolerance < 0 || tolerance > 6)) return issue('safety_tolerance', 'must be 0-6');
  if (body.output_format !== undefined && body.output_format !== 'jpeg' && body.output_format !== 'png')
    return issue('output_format', "must be 'jpeg' or 'png'");
  return undefined;
}

interface Task {
  model: string;
  body: Body;
  requestModerated: boolean;
}

/**
 * Emulates Black Forest Labs' API: `POST /v1/<model>` answering `{id, polling_url, cost}`, the
 * result at its polling_url, `GET /v1/credits`, and the job's webhook. `[sandbox:moderate]` ends in
 * Content Moderated, `[sandbox:request-moderated]` in Request Moderated, `fail` in Error, `expire`
 * in Task not found.
 */
export function bflEmulator(sandbox: SandboxState, closeHooks: Array<() => void>): SandboxMounts {
  const jobs = new JobStore<Task>('bfl_', () => sandbox.options.jobDurationMs);
  closeHooks.push(() => jobs.close());
  let credits = sandbox.options.credits;

  const result = (job: SandboxJob<Task>, phase: JobPhase = jobs.phase(job)): Record<string, unknown> => {
    if (job.extra.requestModerated)
      return { id: job.id, status: 'Request Moderated', result: null, details: { 'Moderation Reasons': ['Derivative Works Filter'] } };
    switch (phase) {
      case 'pending':
      case 'processing':
        return { id: job.id, status: 'Pending', result: null, progress: phase === 'pending' ? 0 : 0.5 };
      case 'completed': {
        const width = (job.extra.body.width as number | undefined) ?? 1024;
        const height = (job.extra.body.height as number | undefined) ?? 768;
        const format = job.extra.body.output_format === 'png' ? 'png' : 'jpg';
        const sample = sandbox.fileUrl({ seed: job.seed, width, height, format, tag: job.id });
        return {
          id: job.id,
          status: 'Ready',
          result: { sample, prompt: job.extra.body.prompt, seed: job.seed, start_time: job.createdAt / 1000, end_time: Date.now() / 1000 },
        };
      }
      case 'failed':
        return job.outcome === 'moderate'
          ? { id: job.id, status: 'Content Moderated', result: null, details: { 'Moderation Reasons': ['NSFW'] } }
          : { id: job.id, status: 'Error', result: null, error: 'generation_failed', message: 'the generation failed' };
      case 'expired':
        return { id: job.id, status: 'Task not found', result: null };
    }
  };

  const routes: SandboxMounts['routes'] = [
    {
      method: 'GET',
      pattern: /^\/v1\/credits$/,
      handle({ req, res }) {
        if (!authorised(req, res, sandbox)) return;
        sendJson(res, 200, { credits });
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/get_result$/,
      handle({ req, res, url }) {
        if (!authorised(req, res, sandbox)) return;
        const job = jobs.get(url.searchParams.get('id') ?? '');
        sendJson(res, 200, job ? result(job) : { id: url.searchParams.get('id'), status: 'Task not found', result: null });
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/([\w.-]+)$/,
      handle({ req, res, raw, params }) {
        if (!authorised(req, res, sandbox)) return;
        const model = params[0];
        const price = PRICES[model];
        if (price === undefined) return fail(res, 404, 'Not Found');
        const parsed = parseJson(raw);
        if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null) return fail(res, 422, [{ loc: ['body'], msg: 'invalid JSON' }]);
        const body = parsed.value as Body;
        const issues = problem(model, body);
        if (issues) return fail(res, 422, issues);
        if (credits < price) return fail(res, 402, 'Insufficient credits');
        credits -= price;
        const job = jobs.create(
          { model, body, requestModerated: /\[sandbox:request-moderated\]/i.test(String(body.prompt)) },
          { seed: body.seed as number | undefined, outcome: outcomeFromPrompt(body.prompt) },
        );
        const webhookUrl = typeof body.webhook_url === 'string' ? body.webhook_url : undefined;
        if (webhookUrl) {
          jobs.onPhaseChanges(job, (phase) => {
            if (phase !== 'processing') sandbox.deliverWebhook(webhookUrl, { ...result(job, phase), timestamp: new Date().toISOString() });
          });
        }
        sendJson(res, 200, { id: job.id, polling_url: `${sandbox.origin}/bfl/v1/get_result?id=${job.id}`, cost: price, input_mp: 0, output_mp: 0.79 });
      },
    },
  ];
  return { prefix: '/bfl', api: 'bfl', routes, jobs };
}
