import assert from 'node:assert/strict';
import { settleGeneration } from '../../../lib/local/params';

describe('local-sd parameters', () => {
  it("applies VisionCraft's defaults and picks a seed for -1", () => {
    const settings = settleGeneration('a cat', {});
    assert.deepEqual(
      { ...settings, seed: 0 },
      {
        prompt: 'a cat',
        negativePrompt: '',
        steps: 20,
        guidance: 7.5,
        width: 512,
        height: 512,
        seed: 0,
        scheduler: undefined,
        strength: 0.75,
        image: undefined,
        mask: undefined,
      },
    );
    assert.ok(Number.isInteger(settings.seed) && settings.seed >= 0 && settings.seed <= 0xffffffff);
    assert.equal(settleGeneration('a cat', { seed: 7 }).seed, 7);
  });

  it('refuses what a user might send by mistake, naming the parameter', () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['', {}, /the prompt is empty/],
      ['p', { width: 100 }, /params.width: must be a multiple of 8/],
      ['p', { num_inference_steps: 0 }, /params.num_inference_steps: Too small/],
      ['p', { num_inference_steps: 1e9 }, /params.num_inference_steps: Too big/],
      ['p', { scheduler: 'plms' }, /params.scheduler: Invalid option/],
      ['p', { guidance_scale: '7' }, /params.guidance_scale: Invalid input: expected number/],
      ['p', { seed: 2 ** 40 }, /params.seed: Too big/],
      ['p', { strength: 0 }, /params.strength: Too small/],
      ['p', { steps: 20 }, /Unrecognized key: "steps"/],
      ['p', { image: 'not base64!' }, /params.image must be image bytes/],
    ];
    for (const [prompt, params, message] of cases) assert.throws(() => settleGeneration(prompt, params), message, JSON.stringify(params));
  });

  it('takes an input image as bytes, base64 or a data URL', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
    assert.deepEqual(settleGeneration('p', { image: png }).image, png);
    assert.deepEqual(settleGeneration('p', { image: png.toString('base64') }).image, png);
    assert.deepEqual(settleGeneration('p', { image: `data:image/png;base64,${png.toString('base64')}` }).image, png);
  });
});
