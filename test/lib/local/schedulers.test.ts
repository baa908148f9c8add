import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  alphasCumprod,
  createScheduler,
  defaultScheduler,
  karrasSigmas,
  lcmTimesteps,
  schedulerConfigSchema,
  trainingSigmas,
} from '../../../lib/local/schedulers';
import type { SchedulerName } from '../../../lib/local/schedulers';
import { REPO_ROOT } from '../../../scripts/node-red-home';

// Stable Diffusion 1.5's scheduler_config.json (PNDM in the export; the schedule is what matters).
const sd15 = schedulerConfigSchema.parse({
  _class_name: 'PNDMScheduler',
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  num_train_timesteps: 1000,
  steps_offset: 1,
  timestep_spacing: 'leading',
  set_alpha_to_one: false,
});
const turbo = schedulerConfigSchema.parse({ ...sd15, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'trailing', steps_offset: 0 });
const lcm = schedulerConfigSchema.parse({ ...sd15, _class_name: 'LCMScheduler', original_inference_steps: 50 });

function close(actual: ReadonlyArray<number>, expected: ReadonlyArray<number>, tolerance: number): void {
  assert.equal(actual.length, expected.length, `length ${actual.length} vs ${expected.length}`);
  actual.forEach((value, i) => assert.ok(Math.abs(value - expected[i]) <= tolerance, `[${i}] ${value} vs ${expected[i]}`));
}

const step = (from: number, to: number, by: number): number[] => Array.from({ length: Math.floor((from - to) / by) + 1 }, (_, i) => from - i * by);

describe('schedulers', () => {
  it('builds the SD 1.5 scaled-linear schedule: sigma_max 14.6146, sigma_min 0.0292', () => {
    const sigmas = trainingSigmas(sd15);
    assert.ok(Math.abs(sigmas[999] - 14.6146) < 1e-4, String(sigmas[999]));
    assert.ok(Math.abs(sigmas[0] - 0.0292) < 1e-4, String(sigmas[0]));
    assert.ok(Math.abs(alphasCumprod(sd15)[999] - 0.0046601) < 1e-6);
    assert.ok(Math.abs(alphasCumprod(sd15)[0] - 0.99915) < 1e-9);
  });

  it('gives the Karras sigmas for 20 steps (rho 7)', () => {
    const sigmas = trainingSigmas(sd15);
    close(
      karrasSigmas(sigmas[0], sigmas[999], 20),
      [
        14.6146, 11.7254, 9.3402, 7.3836, 5.7894, 4.4998, 3.4647, 2.6408, 1.9909, 1.4832, 1.0908, 0.7909, 0.5647, 0.3964, 0.273, 0.1842, 0.1213, 0.0779, 0.0485,
        0.0292,
      ],
      2e-4,
    );
  });

  it('gives DDIM timesteps for 4, 20 and 50 steps (leading spacing, steps_offset 1)', () => {
    assert.deepEqual(createScheduler('ddim', sd15, 4).timesteps, [751, 501, 251, 1]);
    assert.deepEqual(createScheduler('ddim', sd15, 20).timesteps, step(951, 1, 50));
    assert.deepEqual(createScheduler('ddim', sd15, 50).timesteps, step(981, 1, 20));
  });

  it('gives LCM timesteps for 4, 20 and 50 steps, and refuses more than it was distilled on', () => {
    assert.deepEqual(createScheduler('lcm', lcm, 4).timesteps, [999, 759, 499, 259]);
    assert.deepEqual(
      createScheduler('lcm', lcm, 20).timesteps,
      [999, 959, 899, 859, 799, 759, 699, 659, 599, 559, 499, 459, 399, 359, 299, 259, 199, 159, 99, 59],
    );
    assert.deepEqual(createScheduler('lcm', lcm, 50).timesteps, step(999, 19, 20));
    assert.throws(() => lcmTimesteps(lcm, 51), /at most 50 steps/);
  });

  // Reference schedules computed with numpy from diffusers' own set_timesteps (test/fixtures/diffusers/schedules.py),
  // from the published SD 1.5, SD 2.1 and SD-Turbo configs as shipped, missing keys and all.
  const reference = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'diffusers', 'schedules.json'), 'utf8')) as {
    published: Record<string, unknown>;
    initial: number[];
    noise: number[][];
    cases: Array<{ model: string; scheduler: SchedulerName; steps: number; timesteps: number[]; sigmas?: number[]; initNoiseSigma?: number; final: number[] }>;
  };
  /** The reference's stand-in UNet, in closed form (schedules.py `unet`). */
  const unet = (sample: Float32Array, timestep: number): Float32Array =>
    sample.map((value, index) => 0.8 * Math.tanh(value) + 0.05 * (timestep / 1000) * value + 0.01 * Math.sin(index + timestep / 100));
  for (const { model, scheduler, steps, timesteps, sigmas, initNoiseSigma, final } of reference.cases) {
    it(`${scheduler} on ${model}'s config, ${steps} step(s): diffusers' timesteps, start noise and final latents`, () => {
      const ours = createScheduler(scheduler, schedulerConfigSchema.parse(reference.published[model]), steps);
      const within = (actual: number, expected: number) => Math.abs(actual - expected) <= 1e-3 * Math.max(1, Math.abs(expected));
      assert.equal(ours.timesteps.length, timesteps.length);
      ours.timesteps.forEach((value, index) => assert.ok(within(value, timesteps[index] as number), `timestep ${index}: ${value} vs ${timesteps[index]}`));
      if (initNoiseSigma !== undefined && sigmas) {
        // DPM-Solver starts from unit noise in diffusers' VP form, which is sqrt(sigma_max^2 + 1) in this sigma form.
        const expected = scheduler.startsWith('dpmpp') ? Math.sqrt((sigmas[0] as number) ** 2 + 1) * initNoiseSigma : initNoiseSigma;
        assert.ok(within(ours.initNoiseSigma, expected), `start noise ${ours.initNoiseSigma} vs ${expected}`);
      }
      // The whole sampling loop, as diffusers' pipelines run it, from the same latents and noise.
      let latents: Float32Array = Float32Array.from(reference.initial, (value) => value * ours.initNoiseSigma);
      let drawn = 0;
      const noise = (count: number) => Float32Array.from((reference.noise[drawn++] as number[]).slice(0, count));
      ours.timesteps.forEach((timestep, index) => {
        const prediction = unet(ours.scaleModelInput(latents, index), timestep);
        latents = ours.step(prediction, index, latents, noise);
      });
      const error = Math.hypot(...Array.from(latents, (value, index) => value - (final[index] as number))) / Math.hypot(...final);
      assert.ok(error <= 1e-3, `final latents differ from diffusers' by ${error.toExponential(2)} (relative)`);
    });
  }

  it('spaces trailing and linspace like diffusers', () => {
    const turboSettled = schedulerConfigSchema.parse({ ...turbo });
    assert.deepEqual(createScheduler('ddim', turboSettled, 4).timesteps, [999, 749, 499, 249]);
    assert.deepEqual(createScheduler('euler', schedulerConfigSchema.parse({ ...sd15, timestep_spacing: 'linspace' }), 3).timesteps, [999, 499.5, 0]);
  });

  it("clips DDIM's predicted original sample to [-1, 1] by default, and not when the config says clip_sample false", () => {
    const latents = new Float32Array([3, -3, 0.5]);
    // A model that predicts no noise: the original sample is the latents scaled by 1/sqrt(alpha_bar).
    const prediction = new Float32Array(3);
    const noise = () => new Float32Array(3);
    const clipped = createScheduler('ddim', schedulerConfigSchema.parse({ beta_schedule: 'scaled_linear' }), 1).step(prediction, 0, latents, noise);
    const free = createScheduler('ddim', schedulerConfigSchema.parse({ beta_schedule: 'scaled_linear', clip_sample: false }), 1).step(
      prediction,
      0,
      latents,
      noise,
    );
    // One step ends at alpha_bar 1 (set_alpha_to_one defaults to true for DDIM): the result is the original sample itself.
    assert.ok(Math.abs((clipped[0] as number) - 1) < 1e-6 && Math.abs((clipped[1] as number) + 1) < 1e-6, String(clipped));
    assert.ok((free[0] as number) > 3, String(free));
  });

  it('denoises a known clean signal back to itself when the model predicts the true noise', () => {
    const clean = Float32Array.from([0.5, -0.25, 1, 0]);
    const noise = Float32Array.from([1, -1, 0.5, 2]);
    for (const name of ['euler', 'dpmpp_2m', 'dpmpp_2m_karras', 'ddim'] as const) {
      for (const prediction of ['epsilon', 'v_prediction'] as const) {
        // set_alpha_to_one: DDIM's last step then lands on the clean signal, not alpha_bar[0]'s noise level.
        const config = schedulerConfigSchema.parse({ ...sd15, prediction_type: prediction, set_alpha_to_one: true });
        const scheduler = createScheduler(name, config, 10);
        let latents = scheduler.addNoise(clean, noise, 0);
        const alphas = alphasCumprod(config);
        for (let i = 0; i < scheduler.timesteps.length; i++) {
          // An oracle model: epsilon is the noise itself; v is sqrt(a)*eps - sqrt(1-a)*x0 at this timestep.
          const a = alphas[Math.round(scheduler.timesteps[i])];
          const eps = noise;
          const output = prediction === 'epsilon' ? eps : eps.map((e, k) => Math.sqrt(a) * e - Math.sqrt(1 - a) * clean[k]);
          latents = scheduler.step(output, i, latents, () => new Float32Array(4));
        }
        close(Array.from(latents), Array.from(clean), 1e-3);
      }
    }
  });

  it('picks the scheduler a model ships with, and Euler for ones it does not implement', () => {
    assert.equal(defaultScheduler(sd15), 'euler');
    assert.equal(defaultScheduler(lcm), 'lcm');
    assert.equal(defaultScheduler(schedulerConfigSchema.parse({ _class_name: 'DPMSolverMultistepScheduler', use_karras_sigmas: true })), 'dpmpp_2m_karras');
    assert.equal(defaultScheduler(schedulerConfigSchema.parse({ _class_name: 'EulerAncestralDiscreteScheduler' })), 'euler_a');
  });

  it('refuses steps below 1 and reads malformed configs as errors', () => {
    assert.throws(() => createScheduler('euler', sd15, 0), /at least 1/);
    assert.equal(schedulerConfigSchema.safeParse({ beta_schedule: 'cubic' }).success, false);
  });
});
