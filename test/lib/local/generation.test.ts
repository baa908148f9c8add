import assert from 'node:assert/strict';
import { modelsDirectory } from '../../../lib/local/admin';
import { localGeneration } from '../../../lib/local/generation';
import { settleGeneration } from '../../../lib/local/params';

describe('local generation results', () => {
  it('puts the PNG, seed, time, device and every parameter used in the contract, never the input image', () => {
    const settings = settleGeneration('a cat', { seed: 5, width: 64, height: 64, image: Buffer.from('png bytes') });
    const png = new Uint8Array([1, 2, 3]);
    const result = {
      png,
      seed: 5,
      scheduler: 'ddim' as const,
      truncatedTokens: 0,
      timings: { totalMs: 1234.5, onnxMs: 1000, onnxRuns: 10 },
      device: 'cpu' as const,
      warnings: [],
    };
    const generation = localGeneration('sd15', settings, result, new Date('2026-01-01T00:00:00Z'));
    assert.deepEqual(generation.images, [{ data: Buffer.from(png), mimeType: 'image/png', width: 64, height: 64, seed: 5 }]);
    assert.deepEqual(
      { ...generation.job, completedAt: undefined },
      {
        provider: 'local-sd',
        model: 'sd15',
        status: 'completed',
        submittedAt: '2026-01-01T00:00:00.000Z',
        completedAt: undefined,
        seed: 5,
        generationTime: 1.235,
        device: 'cpu',
        params: {
          prompt: 'a cat',
          negative_prompt: '',
          num_inference_steps: 20,
          guidance_scale: 7.5,
          width: 64,
          height: 64,
          seed: 5,
          scheduler: 'ddim',
          strength: 0.75,
        },
      },
    );
  });

  it('finds the models directory in settings.js, else in the user directory', () => {
    assert.equal(modelsDirectory({ userDir: '/home/nr/.node-red' }), '/home/nr/.node-red/models');
    assert.equal(modelsDirectory({ userDir: '/u', localSdModelsDir: '/srv/models' }), '/srv/models');
    assert.equal(modelsDirectory({ userDir: '/u', localSdModelsDir: '  ' }), '/u/models');
  });
});
