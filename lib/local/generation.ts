import type { Generation } from '../contract';
import type { GenerationSettings } from './params';
import type { RunnerGenerationResult } from './runner-protocol';

/**
 * A local generation in the message contract's shape. `job.params` repeats every parameter in
 * VisionCraft's names, with the seed and scheduler actually used (never the input image bytes).
 */
export function localGeneration(model: string, settings: GenerationSettings, result: RunnerGenerationResult, submittedAt: Date): Generation {
  return {
    images: [
      {
        data: Buffer.from(result.png.buffer, result.png.byteOffset, result.png.byteLength),
        mimeType: 'image/png',
        width: settings.width,
        height: settings.height,
        seed: result.seed,
      },
    ],
    job: {
      provider: 'local-sd',
      model,
      status: 'completed',
      submittedAt: submittedAt.toISOString(),
      completedAt: new Date().toISOString(),
      seed: result.seed,
      generationTime: Math.round(result.timings.totalMs) / 1000,
      device: result.device,
      params: {
        prompt: settings.prompt,
        negative_prompt: settings.negativePrompt,
        num_inference_steps: settings.steps,
        guidance_scale: settings.guidance,
        width: settings.width,
        height: settings.height,
        seed: result.seed,
        scheduler: result.scheduler,
        ...(settings.image ? { strength: settings.strength } : {}),
      },
    },
  };
}
