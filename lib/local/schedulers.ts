import { z } from 'zod';

/**
 * The denoising schedulers, following diffusers' implementations of the same names so that a
 * model's `scheduler/scheduler_config.json` means here what it means there.
 */
export const SCHEDULERS = ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm'] as const;
export type SchedulerName = (typeof SCHEDULERS)[number];

/** The names AUTOMATIC1111 shows, for the `parameters` text of the PNG. */
export const SAMPLER_LABELS: Record<SchedulerName, string> = {
  euler: 'Euler',
  euler_a: 'Euler a',
  ddim: 'DDIM',
  dpmpp_2m: 'DPM++ 2M',
  dpmpp_2m_karras: 'DPM++ 2M Karras',
  lcm: 'LCM',
};

export const schedulerConfigSchema = z.looseObject({
  _class_name: z.string().optional(),
  num_train_timesteps: z.number().int().positive().default(1000),
  beta_start: z.number().positive().default(0.00085),
  beta_end: z.number().positive().default(0.012),
  beta_schedule: z.enum(['linear', 'scaled_linear', 'squaredcos_cap_v2']).default('scaled_linear'),
  prediction_type: z.enum(['epsilon', 'v_prediction']).default('epsilon'),
  /** Left out of older configs (SD 1.5, SD 2.1): each scheduler then takes its own default (classDefaults). */
  timestep_spacing: z.enum(['leading', 'trailing', 'linspace']).optional(),
  steps_offset: z.number().int().nonnegative().default(0),
  set_alpha_to_one: z.boolean().optional(),
  clip_sample: z.boolean().optional(),
  clip_sample_range: z.number().positive().default(1),
  use_karras_sigmas: z.boolean().default(false),
  original_inference_steps: z.number().int().positive().default(50),
  timestep_scaling: z.number().positive().default(10),
});
export type SchedulerConfig = z.output<typeof schedulerConfigSchema>;
/** A config with the keys a scheduler reads settled: the file's value, else the scheduler's own default. */
type SettledConfig = SchedulerConfig & Required<Pick<SchedulerConfig, 'timestep_spacing' | 'set_alpha_to_one' | 'clip_sample'>>;

/**
 * Each diffusers scheduler class's defaults for the keys a config file may lack, as its `from_config`
 * applies them: Euler, Euler a and DPM-Solver space timesteps by `linspace`; DDIM and LCM by `leading`,
 * with alpha_bar 1 past the last step; DDIM clips its predicted original sample to [-1, 1].
 */
function classDefaults(name: SchedulerName): Pick<SettledConfig, 'timestep_spacing' | 'set_alpha_to_one' | 'clip_sample'> {
  if (name === 'ddim') return { timestep_spacing: 'leading', set_alpha_to_one: true, clip_sample: true };
  if (name === 'lcm') return { timestep_spacing: 'leading', set_alpha_to_one: true, clip_sample: false };
  return { timestep_spacing: 'linspace', set_alpha_to_one: false, clip_sample: false };
}

function settle(name: SchedulerName, config: SchedulerConfig): SettledConfig {
  const defaults = classDefaults(name);
  return {
    ...config,
    timestep_spacing: config.timestep_spacing ?? defaults.timestep_spacing,
    set_alpha_to_one: config.set_alpha_to_one ?? defaults.set_alpha_to_one,
    clip_sample: config.clip_sample ?? defaults.clip_sample,
  };
}

/** The scheduler a model ships with, when it is one of ours; `euler` otherwise (e.g. PNDM). */
export function defaultScheduler(config: SchedulerConfig): SchedulerName {
  switch (config._class_name) {
    case 'EulerAncestralDiscreteScheduler':
      return 'euler_a';
    case 'DDIMScheduler':
      return 'ddim';
    case 'DPMSolverMultistepScheduler':
      return config.use_karras_sigmas ? 'dpmpp_2m_karras' : 'dpmpp_2m';
    case 'LCMScheduler':
      return 'lcm';
    default:
      return 'euler';
  }
}

function linspace(start: number, end: number, count: number): number[] {
  if (count === 1) return [start];
  return Array.from({ length: count }, (_, i) => start + ((end - start) * i) / (count - 1));
}

function betas(config: SchedulerConfig): number[] {
  const n = config.num_train_timesteps;
  if (config.beta_schedule === 'linear') return linspace(config.beta_start, config.beta_end, n);
  if (config.beta_schedule === 'scaled_linear') return linspace(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), n).map((b) => b * b);
  const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  return Array.from({ length: n }, (_, i) => Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999));
}

/** Cumulative products of (1 - beta), index = training timestep. */
export function alphasCumprod(config: SchedulerConfig): Float64Array {
  const products = new Float64Array(config.num_train_timesteps);
  let product = 1;
  betas(config).forEach((beta, i) => {
    product *= 1 - beta;
    products[i] = product;
  });
  return products;
}

/** The noise level sigma = sqrt((1 - alpha_bar) / alpha_bar) of every training timestep. */
export function trainingSigmas(config: SchedulerConfig): Float64Array {
  return alphasCumprod(config).map((a) => Math.sqrt((1 - a) / a));
}

/** Karras et al. (2022) noise levels, rho = 7, from sigmaMax down to sigmaMin. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, steps: number, rho = 7): number[] {
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return linspace(0, 1, steps).map((ramp) => (maxInv + ramp * (minInv - maxInv)) ** rho);
}

/** Discrete timesteps, high to low, for the spacing diffusers calls leading, trailing or linspace. */
export function spacedTimesteps(config: SettledConfig, steps: number): number[] {
  const n = config.num_train_timesteps;
  if (config.timestep_spacing === 'linspace') return linspace(0, n - 1, steps).reverse();
  if (config.timestep_spacing === 'trailing') {
    const ratio = n / steps;
    return Array.from({ length: steps }, (_, i) => Math.round(n - i * ratio) - 1);
  }
  const ratio = Math.floor(n / steps);
  return Array.from({ length: steps }, (_, i) => Math.round((steps - 1 - i) * ratio) + config.steps_offset);
}

/** DPM-Solver's timesteps: diffusers spaces steps + 1 points and drops the last, except when trailing. */
function multistepTimesteps(config: SettledConfig, steps: number): number[] {
  if (config.timestep_spacing === 'trailing') return spacedTimesteps(config, steps);
  if (config.timestep_spacing === 'linspace')
    return spacedTimesteps(config, steps + 1)
      .slice(0, steps)
      .map(Math.round);
  const ratio = Math.floor(config.num_train_timesteps / (steps + 1));
  return Array.from({ length: steps }, (_, i) => (steps - i) * ratio + config.steps_offset);
}

/** Linear interpolation of the training sigmas at a (possibly fractional) timestep. */
function sigmaAt(sigmas: Float64Array, timestep: number): number {
  const low = Math.max(0, Math.min(sigmas.length - 1, Math.floor(timestep)));
  const high = Math.min(sigmas.length - 1, low + 1);
  const weight = timestep - low;
  return sigmas[low] + (sigmas[high] - sigmas[low]) * weight;
}

/** The fractional timestep whose sigma is `sigma`, interpolating in log sigma. */
export function timestepForSigma(sigmas: Float64Array, sigma: number): number {
  const logSigma = Math.log(sigma);
  let low = 0;
  for (let i = 0; i < sigmas.length; i++) if (logSigma - Math.log(sigmas[i]) >= 0) low = i;
  low = Math.min(low, sigmas.length - 2);
  const lowLog = Math.log(sigmas[low]);
  const highLog = Math.log(sigmas[low + 1]);
  const weight = Math.min(1, Math.max(0, (lowLog - logSigma) / (lowLog - highLog)));
  return (1 - weight) * low + weight * (low + 1);
}

/** What one denoising step needs beyond the latents: fresh noise, for ancestral and LCM steps. */
export type NoiseSource = (count: number) => Float32Array;

export interface Scheduler {
  readonly name: SchedulerName;
  /** The model's timestep at each step, high to low. */
  readonly timesteps: readonly number[];
  /** Multiplies unit noise into the first latents. */
  readonly initNoiseSigma: number;
  /** The UNet's input at step `index`. */
  scaleModelInput(sample: Float32Array, index: number): Float32Array;
  /** The latents after step `index`, from the model's prediction. */
  step(prediction: Float32Array, index: number, sample: Float32Array, noise: NoiseSource): Float32Array;
  /** Noises clean latents to the level of step `index`, where img2img starts. */
  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array;
}

/** a*x + b*y (+ c*z), element-wise: every scheduler update is such a linear combination. */
function combine(a: number, x: Float32Array, b: number, y: Float32Array, c = 0, z?: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  if (z) for (let i = 0; i < out.length; i++) out[i] = a * x[i] + b * y[i] + c * z[i];
  else for (let i = 0; i < out.length; i++) out[i] = a * x[i] + b * y[i];
  return out;
}

/**
 * Euler, Euler ancestral and DPM++ 2M work on noise levels sigma (k-diffusion's form): the
 * latents carry noise of standard deviation sigma and the UNet sees them scaled by
 * 1/sqrt(sigma^2 + 1).
 */
class SigmaScheduler implements Scheduler {
  readonly timesteps: number[];
  readonly initNoiseSigma: number;
  private readonly sigmas: number[];
  private previousDenoised: Float32Array | undefined;

  constructor(
    readonly name: 'euler' | 'euler_a' | 'dpmpp_2m' | 'dpmpp_2m_karras',
    private readonly config: SettledConfig,
    steps: number,
  ) {
    const training = trainingSigmas(config);
    const multistep = name.startsWith('dpmpp');
    let timesteps = multistep ? multistepTimesteps(config, steps) : spacedTimesteps(config, steps);
    let sigmas = timesteps.map((t) => sigmaAt(training, t));
    const karras = name === 'dpmpp_2m_karras' || (name !== 'dpmpp_2m' && config.use_karras_sigmas);
    if (karras) {
      // As diffusers does: DPM-Solver ramps over the whole training range, Euler over its spaced sigmas.
      sigmas = multistep
        ? karrasSigmas(training[0] as number, training[training.length - 1] as number, steps)
        : karrasSigmas(sigmas[sigmas.length - 1], sigmas[0], steps);
      timesteps = sigmas.map((sigma) => timestepForSigma(training, sigma));
      if (multistep) timesteps = timesteps.map(Math.round);
    }
    this.timesteps = timesteps;
    this.sigmas = [...sigmas, 0];
    const maxSigma = Math.max(...sigmas);
    // diffusers starts DPM-Solver from unit noise in its own (VP) form, which is this in sigma form.
    const unitVariance = multistep || config.timestep_spacing === 'leading';
    this.initNoiseSigma = unitVariance ? Math.sqrt(maxSigma ** 2 + 1) : maxSigma;
  }

  scaleModelInput(sample: Float32Array, index: number): Float32Array {
    return combine(1 / Math.sqrt(this.sigmas[index] ** 2 + 1), sample, 0, sample);
  }

  private denoised(prediction: Float32Array, sigma: number, sample: Float32Array): Float32Array {
    if (this.config.prediction_type === 'v_prediction') {
      const c = 1 / (sigma ** 2 + 1);
      const d = -sigma / Math.sqrt(sigma ** 2 + 1);
      return combine(d, prediction, c, sample);
    }
    return combine(1, sample, -sigma, prediction);
  }

  step(prediction: Float32Array, index: number, sample: Float32Array, noise: NoiseSource): Float32Array {
    const sigma = this.sigmas[index];
    const next = this.sigmas[index + 1];
    const denoised = this.denoised(prediction, sigma, sample);
    // Euler: x + (x - denoised) / sigma * (next - sigma).
    if (this.name === 'euler') return combine(1 + (next - sigma) / sigma, sample, -(next - sigma) / sigma, denoised);
    if (this.name === 'euler_a') {
      const up = Math.sqrt((next ** 2 * (sigma ** 2 - next ** 2)) / sigma ** 2);
      const down = Math.sqrt(next ** 2 - up ** 2);
      const k = (down - sigma) / sigma;
      return combine(1 + k, sample, -k, denoised, up, noise(sample.length));
    }
    // DPM++ 2M: second order from the previous step's denoised latents, first order at the ends.
    const lambda = (s: number): number => -Math.log(s);
    const h = lambda(next) - lambda(sigma);
    const decay = next / sigma;
    const weight = -Math.expm1(-h);
    const previous = this.previousDenoised;
    this.previousDenoised = denoised;
    if (!previous || next === 0) return combine(decay, sample, weight, denoised);
    const r = (lambda(sigma) - lambda(this.sigmas[index - 1])) / h;
    const a = 1 + 1 / (2 * r);
    const b = 1 / (2 * r);
    return combine(decay, sample, weight * a, denoised, -weight * b, previous);
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    return combine(1, original, this.sigmas[index], noise);
  }
}

/** DDIM (eta 0) and LCM work on alpha_bar directly; the UNet sees the latents unscaled. */
class AlphaScheduler implements Scheduler {
  readonly initNoiseSigma = 1;
  readonly timesteps: number[];
  private readonly alphas: Float64Array;
  private readonly finalAlpha: number;

  constructor(
    readonly name: 'ddim' | 'lcm',
    private readonly config: SettledConfig,
    private readonly steps: number,
  ) {
    this.alphas = alphasCumprod(config);
    this.finalAlpha = config.set_alpha_to_one ? 1 : this.alphas[0];
    this.timesteps = name === 'ddim' ? spacedTimesteps(config, steps).map(Math.round) : lcmTimesteps(config, steps);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  private alphaAt(timestep: number): number {
    return timestep >= 0 ? this.alphas[timestep] : this.finalAlpha;
  }

  private predictions(prediction: Float32Array, alpha: number, sample: Float32Array): { original: Float32Array; epsilon: Float32Array } {
    const a = Math.sqrt(alpha);
    const b = Math.sqrt(1 - alpha);
    if (this.config.prediction_type === 'v_prediction') {
      return { original: combine(a, sample, -b, prediction), epsilon: combine(a, prediction, b, sample) };
    }
    return { original: combine(1 / a, sample, -b / a, prediction), epsilon: prediction };
  }

  step(prediction: Float32Array, index: number, sample: Float32Array, noise: NoiseSource): Float32Array {
    const timestep = this.timesteps[index];
    const alpha = this.alphaAt(timestep);
    const predicted = this.predictions(prediction, alpha, sample);
    const { epsilon } = predicted;
    const range = this.config.clip_sample_range;
    const original = this.config.clip_sample ? predicted.original.map((value) => Math.min(range, Math.max(-range, value))) : predicted.original;
    if (this.name === 'ddim') {
      const previous = this.alphaAt(timestep - Math.floor(this.config.num_train_timesteps / this.steps));
      return combine(Math.sqrt(previous), original, Math.sqrt(1 - previous), epsilon);
    }
    // LCM: the consistency boundary condition, then re-noise to the next timestep.
    const scaled = timestep * this.config.timestep_scaling;
    const cSkip = 0.25 / (scaled ** 2 + 0.25);
    const cOut = scaled / Math.sqrt(scaled ** 2 + 0.25);
    const denoised = combine(cOut, original, cSkip, sample);
    if (index === this.timesteps.length - 1) return denoised;
    const previous = this.alphaAt(this.timesteps[index + 1]);
    return combine(Math.sqrt(previous), denoised, Math.sqrt(1 - previous), noise(sample.length));
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    const alpha = this.alphaAt(this.timesteps[index]);
    return combine(Math.sqrt(alpha), original, Math.sqrt(1 - alpha), noise);
  }
}

/** LCM's timesteps: evenly chosen among the `original_inference_steps` it was distilled on. */
export function lcmTimesteps(config: SchedulerConfig, steps: number): number[] {
  const stride = Math.floor(config.num_train_timesteps / config.original_inference_steps);
  const origin = Array.from({ length: config.original_inference_steps }, (_, i) => (config.original_inference_steps - i) * stride - 1);
  if (steps > origin.length)
    throw new RangeError(`LCM takes at most ${origin.length} steps with this model (original_inference_steps); ${steps} were asked for`);
  return Array.from({ length: steps }, (_, i) => origin[Math.floor((i * origin.length) / steps)]);
}

export function createScheduler(name: SchedulerName, config: SchedulerConfig, steps: number): Scheduler {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a whole number of at least 1 (got ${steps})`);
  const settled = settle(name, config);
  if (name === 'ddim' || name === 'lcm') return new AlphaScheduler(name, settled, steps);
  return new SigmaScheduler(name, settled, steps);
}
