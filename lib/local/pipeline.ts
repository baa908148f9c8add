import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { InvalidRequestError } from '../contract';
import { encodePng } from '../storage/png';
import { a1111Parameters, pngTextChunk } from '../storage/png-text';
import { decodeRgb } from '../storage/sharp';
import { blankRepainted, greyOf, inpaintingInput, keepUnmasked, latentMask } from './inpainting';
import type { ModelFolder } from './model-folder';
import type { GenerationSettings } from './params';
import { SeededRandom } from './random';
import { createScheduler, defaultScheduler, SAMPLER_LABELS } from './schedulers';
import type { Scheduler, SchedulerName } from './schedulers';
import { floatTensor, idsTensor, inputSpec, isDynamic, readFloats, timestepTensor } from './tensors';
import type { InputSpec, OnnxRuntime } from './tensors';
import { CLIP_CONTEXT_LENGTH } from './tokenizer';
import type { ClipTokenizer } from './tokenizer';

/** A model folder with its sessions open, as the runner process caches it. */
export interface LoadedModel {
  folder: ModelFolder;
  tokenizer: ClipTokenizer;
  textEncoder: InferenceSession;
  unet: InferenceSession;
  vaeDecoder: InferenceSession;
  vaeEncoder?: InferenceSession;
  /** Whether the VAE encoder samples inside its graph (learned on the first img2img: it then encodes the same image twice). */
  encoderSamples?: boolean;
}

export interface GenerationHooks {
  /** Called before each denoising step; throws to stop the generation there. */
  checkpoint(): Promise<void>;
  onStep(step: number, steps: number): void;
}

export interface GenerationTimings {
  totalMs: number;
  /** Time inside onnxruntime's run calls, the part no pipeline code can speed up. */
  onnxMs: number;
  onnxRuns: number;
}

export interface GenerationOutput {
  png: Buffer;
  seed: number;
  scheduler: SchedulerName;
  /** What the user should know about this model's output (said once per message). */
  warnings: string[];
  /** Prompt tokens past CLIP's 75 that were cut. */
  truncatedTokens: number;
  timings: GenerationTimings;
}

interface UnetSpecs {
  sample: InputSpec;
  timestep: InputSpec;
  context: InputSpec;
  channels: number;
  /**
   * The batch the export takes: `dynamic` runs uncond and cond in one call; `two` (a fixed batch of 2)
   * always sends two; `one` runs them in separate calls.
   */
  batch: 'dynamic' | 'two' | 'one';
  /** An LCM-distilled UNet's guidance embedding input (time_cond_proj_dim wide): guidance goes in there, not through a second pass. */
  timestepCond?: { spec: InputSpec; width: number };
}

function unetSpecs(unet: InferenceSession, settings: GenerationSettings): UnetSpecs {
  if (unet.inputNames.includes('text_embeds')) throw new InvalidRequestError('this is an SDXL export; local-sd runs SD 1.x, SD 2.x and SD-Turbo exports');
  const sample = inputSpec(unet, 'sample', 'unet');
  const [batch, channels, height, width] = sample.shape;
  for (const [dimension, wanted, name] of [
    [height, settings.height, 'height'],
    [width, settings.width, 'width'],
  ] as const) {
    if (!isDynamic(dimension) && Number(dimension) * 8 !== wanted)
      throw new InvalidRequestError(`this model's UNet only makes images ${Number(dimension) * 8} pixels in ${name}`);
  }
  if (!isDynamic(batch) && batch !== 1 && batch !== 2)
    throw new InvalidRequestError(`this model's UNet was exported for a batch of ${batch}; local-sd runs batches of 1 or 2`);
  const cond = unet.inputNames.includes('timestep_cond') ? inputSpec(unet, 'timestep_cond', 'unet') : undefined;
  const condWidth = cond ? Number(cond.shape[1]) : 0;
  if (cond && (isDynamic(cond.shape[1]) || condWidth < 1))
    throw new InvalidRequestError("this model's UNet takes a timestep_cond of no fixed width: its time_cond_proj_dim is unknown");
  return {
    sample,
    timestep: inputSpec(unet, 'timestep', 'unet'),
    context: inputSpec(unet, 'encoder_hidden_states', 'unet'),
    channels: typeof channels === 'number' && channels > 0 ? channels : 4,
    batch: isDynamic(batch) ? 'dynamic' : batch === 2 ? 'two' : 'one',
    timestepCond: cond ? { spec: cond, width: condWidth } : undefined,
  };
}

/**
 * The guidance embedding an LCM-distilled UNet takes as `timestep_cond`, as diffusers'
 * LatentConsistencyModelPipeline computes it (get_guidance_scale_embedding of guidance - 1):
 * sines then cosines of 1000 w over `width / 2` frequencies from 1 down to 1/10000.
 */
export function guidanceEmbedding(guidance: number, width: number): Float32Array {
  const w = (guidance - 1) * 1000;
  const half = Math.floor(width / 2);
  const out = new Float32Array(width);
  const step = Math.log(10000) / (half - 1);
  for (let i = 0; i < half; i++) {
    const angle = w * Math.exp(-step * i);
    out[i] = Math.sin(angle);
    out[half + i] = Math.cos(angle);
  }
  return out;
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Planar [-1, 1] floats (NCHW, C = 3) to packed RGB bytes; the clamped array rounds and clamps. */
function toRgb(planes: Float32Array, width: number, height: number): Uint8Array {
  const pixels = width * height;
  const rgb = new Uint8ClampedArray(pixels * 3);
  for (let c = 0; c < 3; c++) {
    const plane = planes.subarray(c * pixels, (c + 1) * pixels);
    for (let i = 0, j = c; i < pixels; i++, j += 3) rgb[j] = plane[i] * 127.5 + 127.5;
  }
  return new Uint8Array(rgb.buffer);
}

function toPlanes(rgb: Uint8Array, width: number, height: number): Float32Array {
  const pixels = width * height;
  const planes = new Float32Array(pixels * 3);
  for (let c = 0; c < 3; c++) for (let i = 0; i < pixels; i++) planes[c * pixels + i] = rgb[i * 3 + c] / 127.5 - 1;
  return planes;
}

/** Runs one text-to-image or image-to-image generation on a loaded model. */
export async function generate(ort: OnnxRuntime, model: LoadedModel, settings: GenerationSettings, hooks: GenerationHooks): Promise<GenerationOutput> {
  const started = performance.now();
  const timings: GenerationTimings = { totalMs: 0, onnxMs: 0, onnxRuns: 0 };
  const warnings: string[] = [];
  const run = async (session: InferenceSession, feeds: Record<string, Tensor>): Promise<Float32Array> => {
    const before = performance.now();
    const outputs = await session.run(feeds);
    timings.onnxMs += performance.now() - before;
    timings.onnxRuns++;
    return readFloats(outputs[session.outputNames[0]]);
  };

  const schedulerName = settings.scheduler ?? defaultScheduler(model.folder.scheduler);
  let scheduler: Scheduler;
  try {
    scheduler = createScheduler(schedulerName, model.folder.scheduler, settings.steps);
  } catch (error) {
    throw new InvalidRequestError((error as Error).message);
  }
  const unet = unetSpecs(model.unet, settings);
  // An LCM-distilled UNet is guided by its embedding, in one pass, as diffusers' LCM pipeline runs it.
  const guided = settings.guidance > 1 && !unet.timestepCond;
  const idsSpec = inputSpec(model.textEncoder, 'input_ids', 'text_encoder');
  const encodeText = (ids: Int32Array): Promise<Float32Array> => run(model.textEncoder, { input_ids: idsTensor(ort, idsSpec, ids) });
  const prompt = model.tokenizer.encode(settings.prompt);
  const cond = await encodeText(prompt.ids);
  const uncond = guided ? await encodeText(model.tokenizer.encode(settings.negativePrompt).ids) : undefined;

  const latentWidth = settings.width / 8;
  const latentHeight = settings.height / 8;
  // An inpainting UNet takes 9 channels: 4 of latents, the mask, 4 of the blanked image's latents.
  const inpaintingUnet = unet.channels === 9;
  const latentChannels = inpaintingUnet ? 4 : unet.channels;
  if (inpaintingUnet && !settings.mask) {
    throw new InvalidRequestError(
      `model "${model.folder.name}" is an inpainting model (its UNet takes 9 channels): give params.image and params.mask (white = repaint)`,
    );
  }
  const latentShape = [1, latentChannels, latentHeight, latentWidth];
  const random = new SeededRandom(settings.seed);
  const noise = random.normals(latentChannels * latentWidth * latentHeight);
  let latents: Float32Array;
  let start = 0;
  /** Inpainting: the mask at latent size (1 = repaint), and what the UNet or the blending needs from the image. */
  let inpaint: { mask: Float32Array; maskedLatents?: Float32Array; imageLatents?: Float32Array } | undefined;
  if (settings.image) {
    if (!model.vaeEncoder) throw new InvalidRequestError(`model "${model.folder.name}" has no vae_encoder, which img2img needs`);
    if (!inpaintingUnet) {
      start = settings.steps - Math.min(Math.floor(settings.steps * settings.strength), settings.steps);
      if (start >= settings.steps)
        throw new InvalidRequestError(`strength ${settings.strength} with ${settings.steps} steps leaves no step to run: raise one of them`);
    }
    const encoderInput = inputSpec(model.vaeEncoder, 'sample', 'vae_encoder');
    const read = (bytes: Uint8Array, name: 'image' | 'mask') =>
      decodeRgb(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), settings.width, settings.height).catch((error: Error) => {
        throw new InvalidRequestError(`params.${name} could not be read as an image: ${error.message}`);
      });
    const planes = toPlanes(await read(settings.image, 'image'), settings.width, settings.height);
    const grey = settings.mask ? greyOf(await read(settings.mask, 'mask')) : undefined;
    const encode = async (input: Float32Array) => {
      const encoded = await run(model.vaeEncoder as InferenceSession, {
        sample: floatTensor(ort, encoderInput.type, input, [1, 3, settings.height, settings.width]),
      });
      return encoded.subarray(0, noise.length).map((value) => value * model.folder.vaeScalingFactor);
    };
    const source = grey && inpaintingUnet ? blankRepainted(planes, grey) : planes;
    const encoded = await encode(source);
    // diffusers' export script writes an encoder that samples the latent distribution inside its graph:
    // img2img then differs from run to run for one seed. Two encodings of one image tell.
    if (model.encoderSamples === undefined) {
      const again = await encode(source);
      model.encoderSamples = again.some((value, index) => value !== encoded[index]);
    }
    if (model.encoderSamples) {
      warnings.push(
        `model "${model.folder.name}" has a vae_encoder that samples inside its graph, so img2img gives a different image each time for the same seed; export the encoder's mean (latent_dist.mean) for reproducible results`,
      );
    }
    if (grey)
      inpaint = { mask: latentMask(grey, settings.width, settings.height), ...(inpaintingUnet ? { maskedLatents: encoded } : { imageLatents: encoded }) };
    // An inpainting UNet starts from noise, as diffusers' ONNX inpaint pipeline does; img2img from the noised image.
    latents = inpaintingUnet ? noise.map((value) => value * scheduler.initNoiseSigma) : scheduler.addNoise(encoded, noise, start);
  } else {
    latents = noise.map((value) => value * scheduler.initNoiseSigma);
  }

  // The prompt's embeddings are the same at every step: their tensors are built once.
  const contextTensor = (context: Float32Array, batch: number): Tensor =>
    floatTensor(ort, unet.context.type, context, [batch, CLIP_CONTEXT_LENGTH, cond.length / CLIP_CONTEXT_LENGTH]);
  const contexts = {
    cond: contextTensor(cond, 1),
    uncond: uncond && unet.batch === 'one' ? contextTensor(uncond, 1) : undefined,
    both: uncond && unet.batch !== 'one' ? contextTensor(concat(uncond, cond), 2) : undefined,
    // A fixed batch of 2 without guidance: the prompt twice, and the first result kept.
    twice: !uncond && unet.batch === 'two' ? contextTensor(concat(cond, cond), 2) : undefined,
  };
  const embedding = unet.timestepCond ? guidanceEmbedding(settings.guidance, unet.timestepCond.width) : undefined;
  const unetRun = (sample: Float32Array, context: Tensor, timestep: number): Promise<Float32Array> => {
    const batch = context.dims[0];
    const input = inpaint?.maskedLatents ? inpaintingInput(sample, batch, inpaint.mask, inpaint.maskedLatents) : sample;
    const feeds: Record<string, Tensor> = {
      sample: floatTensor(ort, unet.sample.type, input, [batch, unet.channels, latentHeight, latentWidth]),
      timestep: timestepTensor(ort, unet.timestep, timestep, batch),
      encoder_hidden_states: context,
    };
    if (unet.timestepCond && embedding) {
      const repeated = batch === 1 ? embedding : concat(embedding, embedding);
      feeds.timestep_cond = floatTensor(ort, unet.timestepCond.spec.type, repeated, [batch, embedding.length]);
    }
    return run(model.unet, feeds);
  };
  const predict = async (input: Float32Array, timestep: number): Promise<Float32Array> => {
    if (!uncond && contexts.twice) return (await unetRun(concat(input, input), contexts.twice, timestep)).subarray(0, input.length);
    if (!uncond) return unetRun(input, contexts.cond, timestep);
    let unconditional: Float32Array;
    let conditional: Float32Array;
    if (contexts.both) {
      const both = await unetRun(concat(input, input), contexts.both, timestep);
      unconditional = both.subarray(0, input.length);
      conditional = both.subarray(input.length);
    } else {
      unconditional = await unetRun(input, contexts.uncond as Tensor, timestep);
      conditional = await unetRun(input, contexts.cond, timestep);
    }
    const guided = new Float32Array(input.length);
    for (let i = 0; i < guided.length; i++) guided[i] = unconditional[i] + settings.guidance * (conditional[i] - unconditional[i]);
    return guided;
  };

  const total = settings.steps - start;
  for (let index = start; index < settings.steps; index++) {
    await hooks.checkpoint();
    const prediction = await predict(scheduler.scaleModelInput(latents, index), scheduler.timesteps[index]);
    latents = scheduler.step(prediction, index, latents, (count) => random.normals(count));
    // Masked img2img on a 4-channel UNet: the kept part goes back to the image, noised to this step.
    if (inpaint?.imageLatents) latents = keepUnmasked(latents, scheduler.addNoise(inpaint.imageLatents, noise, index), inpaint.mask);
    hooks.onStep(index - start + 1, total);
  }

  const decoderInput = inputSpec(model.vaeDecoder, 'latent_sample', 'vae_decoder');
  const scaled = latents.map((value) => value / model.folder.vaeScalingFactor);
  const image = await run(model.vaeDecoder, { latent_sample: floatTensor(ort, decoderInput.type, scaled, latentShape) });
  const parameters = a1111Parameters({
    prompt: settings.prompt,
    negativePrompt: settings.negativePrompt,
    steps: settings.steps,
    sampler: SAMPLER_LABELS[schedulerName],
    cfgScale: settings.guidance,
    seed: settings.seed,
    width: settings.width,
    height: settings.height,
    model: model.folder.name,
  });
  const png = encodePng(toRgb(image, settings.width, settings.height), settings.width, settings.height, [pngTextChunk('parameters', parameters)]);
  timings.totalMs = performance.now() - started;
  return { png, seed: settings.seed, scheduler: schedulerName, warnings, truncatedTokens: prompt.truncated, timings };
}
