import type { ServerResponse } from 'node:http';
import { parseJson, sendJson } from './server';
import type { SandboxMounts, SandboxState } from './server';

/** `visioncraft-pro-api.md`'s error body. */
function fail(res: ServerResponse, status: number, code: string, message: string, details: Record<string, unknown> = {}): void {
  sendJson(res, status, { error: { code, message, ...details } });
}

const LOCAL_MODELS = ['stable-diffusion-1.5'];
const LEONARDO_MODELS: Record<string, string> = {
  'phoenix-1-0': 'de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3',
  'phoenix-0-9': '6b645e3a-d64f-4341-a6d8-7a3690fbf042',
};
/** The emulated GPU: 8 GB, about 4.2 used with a model loaded; an image over a megapixel needs more than is free. */
const VRAM_TOTAL = 8;
const VRAM_LOADED = 4.2;
const MAX_PIXELS = 1024 * 1024;
const GALLERY_SIZE = 100;

type Body = Record<string, unknown>;
const isInteger = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value);

interface GalleryEntry {
  id: string;
  filename: string;
  prompt: string;
  negative_prompt: string;
  model: string;
  seed: number;
  generation_time: number;
  vram_used: number;
  width: number;
  height: number;
  created_at: string;
  image_data: string;
}

/**
 * Emulates a VisionCraft Pro server (`visioncraft-pro-api.md`): `GET /`, `/status`, `/models`,
 * `/gallery` and `POST /generate` answering a base64 PNG, with its documented errors
 * (VALIDATION_ERROR, MODEL_NOT_AVAILABLE, INSUFFICIENT_VRAM, LEONARDO_API_ERROR). It needs no key.
 */
export function visioncraftEmulator(sandbox: SandboxState): SandboxMounts {
  const gallery: GalleryEntry[] = [];
  let counter = 0;
  let currentModel = LOCAL_MODELS[0];

  const routes: SandboxMounts['routes'] = [
    {
      method: 'GET',
      pattern: /^\/$/,
      handle: ({ res }) => sendJson(res, 200, { message: 'VisionCraft Pro API', status: 'running', version: '1.0.0' }),
    },
    {
      method: 'GET',
      pattern: /^\/status$/,
      handle: ({ res }) =>
        sendJson(res, 200, {
          device: 'cuda',
          device_name: 'Sandbox GPU',
          vram_total: VRAM_TOTAL,
          vram_used: VRAM_LOADED,
          vram_free: VRAM_TOTAL - VRAM_LOADED,
          model_loaded: true,
          current_model: currentModel,
          current_generator_type: currentModel === 'leonardo-api' ? 'api' : 'local',
          available_models: { 'stable-diffusion-1.5': { name: 'Stable Diffusion 1.5', quality: 'Excellent', vram_required: '4-6GB' } },
          available_generators: { 'leonardo-api': { name: 'Leonardo.ai API', type: 'api', quality: 'Professional' } },
          system_info: { python_version: '3.11.0', cuda_available: true, cuda_version: '12.1' },
        }),
    },
    {
      method: 'GET',
      pattern: /^\/models$/,
      handle: ({ res }) =>
        sendJson(res, 200, {
          local_models: {
            'stable-diffusion-1.5': {
              name: 'Stable Diffusion 1.5',
              quality: 'Excellent',
              vram_required: '4-6GB',
              max_resolution: [1024, 1024],
              description: 'High-quality general purpose model',
            },
          },
          cloud_models: {
            'leonardo-api': {
              models: Object.fromEntries(Object.entries(LEONARDO_MODELS).map(([key, id]) => [key, { id, name: key, description: 'Leonardo platform model' }])),
              aspect_ratios: [
                { id: '1:1', name: 'Square', resolution: [1024, 1024] },
                { id: '16:9', name: 'Widescreen', resolution: [1344, 768] },
              ],
              preset_styles: [{ id: 'CREATIVE', name: 'Creative', description: 'Balanced creative output' }],
              quality_levels: [{ id: 'standard', name: 'Standard', description: 'Good quality, faster generation' }],
            },
          },
        }),
    },
    {
      method: 'GET',
      pattern: /^\/gallery$/,
      handle({ res, url }) {
        const limit = Number(url.searchParams.get('limit') ?? 50);
        const offset = Number(url.searchParams.get('offset') ?? 0);
        const model = url.searchParams.get('model');
        if (!isInteger(limit) || !isInteger(offset) || limit < 1 || offset < 0) return fail(res, 400, 'VALIDATION_ERROR', 'limit and offset are whole numbers');
        const matching = gallery.filter((entry) => !model || entry.model === model).reverse();
        sendJson(res, 200, { images: matching.slice(offset, offset + limit), total_count: matching.length, limit, offset });
      },
    },
    {
      method: 'POST',
      pattern: /^\/generate$/,
      handle({ res, raw }) {
        const parsed = parseJson(raw);
        if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null) return fail(res, 400, 'VALIDATION_ERROR', 'Invalid request body');
        const body = parsed.value as Body;
        if (typeof body.prompt !== 'string' || body.prompt.trim() === '') {
          return fail(res, 400, 'VALIDATION_ERROR', 'Invalid prompt provided', { details: { field: 'prompt', issue: 'Prompt cannot be empty' } });
        }
        const model = typeof body.model === 'string' ? body.model : LOCAL_MODELS[0];
        const known = [...LOCAL_MODELS, 'leonardo-api'];
        if (!known.includes(model)) return fail(res, 400, 'MODEL_NOT_AVAILABLE', `Model '${model}' not available`, { available_models: known });
        const steps = body.num_inference_steps ?? 20;
        if (!isInteger(steps) || steps < 15 || steps > 50) return fail(res, 400, 'VALIDATION_ERROR', 'num_inference_steps must be 15-50');
        const width = body.width ?? 512;
        const height = body.height ?? 512;
        if (!isInteger(width) || !isInteger(height)) return fail(res, 400, 'VALIDATION_ERROR', 'width and height are whole numbers');
        if (model !== 'leonardo-api' && width * height > MAX_PIXELS) {
          return fail(res, 400, 'INSUFFICIENT_VRAM', 'Not enough VRAM for requested resolution', {
            vram_available: VRAM_TOTAL - VRAM_LOADED,
            vram_required: 6.5,
          });
        }
        if (model === 'leonardo-api' && typeof body.leonardo_model === 'string' && !(body.leonardo_model in LEONARDO_MODELS)) {
          return fail(res, 500, 'LEONARDO_API_ERROR', 'Leonardo.ai generation failed', {
            details: { api_error: 'Invalid model ID', suggestion: 'Check available models' },
          });
        }
        currentModel = model;
        counter++;
        const requested = typeof body.seed === 'number' ? body.seed : -1;
        const seed = requested >= 0 ? requested : (counter * 104_729) % 2_147_483_647;
        const image = sandbox.image({ seed, width, height, format: 'png', tag: `visioncraft_${model.replace(/\W/g, '_')}` });
        const entry: GalleryEntry = {
          id: `img_${counter}`,
          filename: `generated_image_${counter}.png`,
          prompt: body.prompt,
          negative_prompt: typeof body.negative_prompt === 'string' ? body.negative_prompt : '',
          model,
          seed,
          generation_time: 1.25,
          vram_used: VRAM_LOADED,
          width,
          height,
          created_at: new Date().toISOString(),
          image_data: image.toString('base64'),
        };
        gallery.push(entry);
        if (gallery.length > GALLERY_SIZE) gallery.shift();
        sendJson(res, 200, {
          image: entry.image_data,
          generation_time: entry.generation_time,
          vram_used: entry.vram_used,
          model,
          seed,
          parameters: {
            prompt: body.prompt,
            negative_prompt: entry.negative_prompt,
            num_inference_steps: steps,
            guidance_scale: body.guidance_scale ?? 7.5,
            width,
            height,
          },
        });
      },
    },
  ];
  return { prefix: '/visioncraft', api: 'visioncraft', routes };
}
