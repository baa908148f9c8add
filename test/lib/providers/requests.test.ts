import assert from 'node:assert/strict';
import { InvalidRequestError } from '../../../lib/contract';
import { buildWorkerRequest, buildWorkersAiRun, decodeCloudflareError } from '../../../lib/providers/cloudflare';
import { buildPiapiTask, decodePiapiError } from '../../../lib/providers/piapi';
import { buildFluxRequest, decodePixeldojoError } from '../../../lib/providers/pixeldojo';

const request = (prompt: string, params: Record<string, unknown> = {}, model = '') => ({ prompt, model, params });
const refuses = (build: () => unknown, message: RegExp) =>
  assert.throws(build, (error: Error) => error instanceof InvalidRequestError && message.test(error.message));

describe('lib/providers request building', () => {
  describe('PixelDojo /flux', () => {
    it('defaults the model to flux-pro and forces go_fast false for flux-dev-single-lora', () => {
      assert.deepEqual(buildFluxRequest(request('p')), { prompt: 'p', model: 'flux-pro' });
      assert.equal(buildFluxRequest(request('p', { go_fast: true, lora_weights: 'https://h.f/l.safetensors' }, 'flux-dev-single-lora')).go_fast, false);
    });

    it('names every broken rule at once', () => {
      refuses(
        () => buildFluxRequest(request('', { aspect_ratio: '5:4', output_quality: 0 })),
        /prompt: the prompt is empty; aspect_ratio: Invalid option.*; output_quality: Too small/,
      );
    });
  });

  describe('PiAPI tasks', () => {
    it('omits the prompt only where a task type may run without one', () => {
      const outpaint = buildPiapiTask(
        request('', { image: 'https://x.y/i.png', custom_settings: [{ setting_type: 'outpaint', outpaint_top: 64 }] }, 'Qubico/flux1-dev-advanced'),
        {
          taskType: 'fill-outpaint',
        },
      );
      assert.equal(outpaint.input.prompt, undefined);
      refuses(() => buildPiapiTask(request('', {}, 'Qubico/flux1-dev'), { taskType: 'txt2img' }), /input.prompt: the prompt is empty/);
    });

    it('adds config only when there is something to configure', () => {
      assert.equal(buildPiapiTask(request('p'), { taskType: 'txt2img' }).config, undefined);
      assert.deepEqual(buildPiapiTask(request('p'), { taskType: 'txt2img', serviceMode: 'public' }).config, { service_mode: 'public' });
    });
  });

  describe('Workers AI', () => {
    it('builds the worker body and the REST run', () => {
      assert.deepEqual(buildWorkerRequest(request('p', { steps: 8, aspectRatio: '9:16' })), { prompt: 'p', steps: 8, aspectRatio: '9:16' });
      assert.deepEqual(buildWorkersAiRun(request('p')), { model: '@cf/black-forest-labs/flux-1-schnell', body: { prompt: 'p' } });
      assert.deepEqual(buildWorkersAiRun(request('p', { num_steps: 20 }, '@cf/bytedance/stable-diffusion-xl-lightning')).body, { prompt: 'p', num_steps: 20 });
      refuses(() => buildWorkerRequest(request('p', { steps: 0 })), /steps: Too small/);
    });
  });

  describe('error bodies', () => {
    it("reads each provider's documented error shape", () => {
      assert.deepEqual(decodePixeldojoError(403, '{"error":{"code":"insufficient_credits","message":"No credits","status":403}}'), {
        code: 'insufficient_credits',
        message: 'No credits',
      });
      assert.deepEqual(decodePixeldojoError(400, '{"error":"Bad thing"}'), { message: 'Bad thing' });
      assert.deepEqual(
        decodePiapiError(400, '{"code":400,"data":{"error":{"code":1700,"message":"Invalid image dimensions","detail":"too big"}},"message":"failed"}'),
        {
          code: '1700',
          message: 'Invalid image dimensions: too big - invalid dimensions: width x height must not exceed 1048576',
        },
      );
      assert.deepEqual(decodeCloudflareError(429, '{"success":false,"errors":[{"code":3036,"message":"limited"}]}'), {
        code: '3036',
        message: 'limited - the daily free allocation of Workers AI neurons is used up',
        retryable: false,
      });
      assert.equal(decodePixeldojoError(502, '<html>Bad gateway</html>'), undefined);
    });
  });
});
