import type { ServerResponse } from 'node:http';
import { ASPECT_SIZES } from './images';
import { parseJson, sendBytes, sendJson } from './server';
import type { RouteContext, SandboxMounts, SandboxState } from './server';

/** Workers AI FLUX.1 [schnell] pricing, per 512x512 tile and per step (the worker's documented prices). */
const USD_PER_TILE = 0.000053;
const USD_PER_STEP = 0.00011;
const NEURONS_PER_TILE = 4.8;
const NEURONS_PER_STEP = 9.6;
const THB_PER_USD = 35;

function costHeaders(width: number, height: number, steps: number): Record<string, string> {
  const tiles = Math.ceil(width / 512) * Math.ceil(height / 512);
  const usd = tiles * USD_PER_TILE + steps * USD_PER_STEP;
  return {
    'x-cost-usd': usd.toFixed(6),
    'x-cost-thb': (usd * THB_PER_USD).toFixed(4),
    'x-neurons-used': (tiles * NEURONS_PER_TILE + steps * NEURONS_PER_STEP).toFixed(1),
    'x-image-width': String(width),
    'x-image-height': String(height),
    'x-steps': String(steps),
    'x-tiles': String(tiles),
  };
}

function seedOf(prompt: string): number {
  let hash = 2166136261;
  for (const char of prompt) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619) >>> 0;
  return hash % 2147483647;
}

/** Emulates the documented FLUX worker: `POST /` answering PNG bytes and cost headers. */
export function workersAiEmulator(sandbox: SandboxState): SandboxMounts {
  const routes: SandboxMounts['routes'] = [
    {
      method: 'POST',
      pattern: /^\/?$/,
      handle({ res, raw }) {
        const parsed = parseJson(raw);
        const body = (parsed.ok ? parsed.value : undefined) as Record<string, unknown> | undefined;
        if (!body || typeof body.prompt !== 'string' || body.prompt.trim() === '') return sendJson(res, 400, { error: 'Prompt is required' });
        const steps = body.steps ?? 4;
        if (!Number.isInteger(steps) || (steps as number) < 1 || (steps as number) > 8) return sendJson(res, 400, { error: 'Steps must be between 1 and 8' });
        const aspect = body.aspectRatio ?? '1:1';
        if (typeof aspect !== 'string' || !['1:1', '16:9', '9:16', '4:3', '3:4'].includes(aspect)) {
          return sendJson(res, 400, { error: `Unsupported aspectRatio ${String(aspect)}` });
        }
        const { width, height } = ASPECT_SIZES[aspect];
        const png = sandbox.image({ seed: seedOf(body.prompt), width, height, format: 'png', tag: 'worker' });
        sendBytes(res, 200, png, 'image/png', costHeaders(width, height, steps as number));
      },
    },
  ];
  return { prefix: '/workers-ai', api: 'workers-ai', routes };
}

/** Cloudflare's v4 envelope: `{result, success, errors: [{code, message}], messages}`. */
function envelope(res: ServerResponse, status: number, result: unknown, errors: Array<{ code: number; message: string }> = []): void {
  sendJson(res, status, { result, success: errors.length === 0, errors, messages: [] });
}

const FLUX_SCHNELL = '@cf/black-forest-labs/flux-1-schnell';
/** A Workers AI model that answers raw `image/png` rather than base64 JSON. */
const SDXL = '@cf/stabilityai/stable-diffusion-xl-base-1.0';

/** Emulates the Cloudflare account REST API routes the pack uses. */
export function cloudflareEmulator(sandbox: SandboxState): SandboxMounts {
  const authorised = ({ req, res }: RouteContext): boolean => {
    if (req.headers.authorization === `Bearer ${sandbox.options.apiKey}`) return true;
    envelope(res, 401, null, [{ code: 10000, message: 'Authentication error' }]);
    return false;
  };
  const accountKnown = (context: RouteContext): boolean => {
    if (context.params[0] === sandbox.options.accountId) return true;
    envelope(context.res, 404, null, [
      { code: 7003, message: `Could not route to /accounts/${context.params[0]}, perhaps your object identifier is invalid?` },
    ]);
    return false;
  };
  const routes: SandboxMounts['routes'] = [
    {
      method: 'GET',
      pattern: /^\/user\/tokens\/verify$/,
      handle(context) {
        if (!authorised(context)) return;
        envelope(context.res, 200, { id: 'sandbox-token', status: 'active' });
      },
    },
    {
      method: 'GET',
      pattern: /^\/accounts\/([^/]+)\/ai\/models\/search$/,
      handle(context) {
        if (!authorised(context) || !accountKnown(context)) return;
        envelope(
          context.res,
          200,
          [FLUX_SCHNELL, SDXL].map((name) => ({ name, task: { name: 'Text-to-Image' } })),
        );
      },
    },
    {
      method: 'POST',
      pattern: /^\/accounts\/([^/]+)\/ai\/run\/(@cf\/.+)$/,
      handle(context) {
        if (!authorised(context) || !accountKnown(context)) return;
        const model = context.params[1];
        if (model !== FLUX_SCHNELL && model !== SDXL) return envelope(context.res, 400, null, [{ code: 5007, message: `No such model ${model}` }]);
        const parsed = parseJson(context.raw);
        const body = (parsed.ok ? parsed.value : undefined) as Record<string, unknown> | undefined;
        const prompt = body?.prompt;
        if (typeof prompt !== 'string' || prompt.length < 1 || prompt.length > 2048) {
          return envelope(context.res, 400, null, [{ code: 5006, message: 'Error: prompt must be a string of 1 to 2048 characters' }]);
        }
        const steps = body?.steps ?? 4;
        if (!Number.isInteger(steps) || (steps as number) < 1 || (steps as number) > 8) {
          return envelope(context.res, 400, null, [{ code: 5006, message: 'Error: steps must be an integer of at most 8' }]);
        }
        if (model === SDXL) {
          return sendBytes(context.res, 200, sandbox.image({ seed: seedOf(prompt), width: 1024, height: 1024, format: 'png', tag: 'sdxl' }), 'image/png');
        }
        const jpeg = sandbox.image({ seed: seedOf(prompt), width: 1024, height: 1024, format: 'jpg', tag: 'cf' });
        envelope(context.res, 200, { image: jpeg.toString('base64') });
      },
    },
  ];
  return { prefix: '/cloudflare/client/v4', api: 'cloudflare', routes };
}
