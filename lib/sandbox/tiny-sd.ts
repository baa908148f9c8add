import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SeededRandom } from '../local/random';
import { clipVocabulary, mergesFile, mergesForWords } from './clip-vocabulary';
import { encodeModel, OnnxType } from './onnx-proto';
import type { ExternalData, OnnxGraph, OnnxNode, OnnxTensor, OnnxTypeName, OnnxValue } from './onnx-proto';

/**
 * Tiny but valid Stable Diffusion model folders in Hugging Face's ONNX export layout, with
 * random weights: local-sd runs them end to end (tokenizer, text encoder, UNet, VAE) with no
 * download. Each option reproduces one way real exports differ.
 */
export interface TinyModelOptions {
  /** The text encoder's input_ids type. */
  ids?: 'int32' | 'int64';
  /** The UNet's timestep input: int64 [B], float [B], or a 0-d float scalar. */
  timestep?: 'int64' | 'float' | 'scalar';
  /** fp16 exports take and give float16 tensors (the timestep too). */
  precision?: 'fp32' | 'fp16';
  /** Keep the UNet's weights in unet/model.onnx_data, as large exports do. */
  externalData?: boolean;
  /** A dynamic batch dimension lets guidance run uncond and cond in one UNet call. */
  dynamicBatch?: boolean;
  /** A UNet exported with a fixed batch of 2 (uncond and cond), as some guidance exports are. */
  fixedBatchOfTwo?: boolean;
  /** The timestep declared with one element while the batch is dynamic (broadcast over the batch). */
  timestepOfOne?: boolean;
  /** An LCM-distilled UNet's `timestep_cond` input (the guidance embedding), with time_cond_proj_dim elements. */
  timestepCond?: number;
  /** An inpainting UNet: 9 input channels (latents, mask, masked image latents). */
  inpainting?: boolean;
  vaeEncoder?: boolean;
  /** The VAE encoder samples its latents inside the graph (as diffusers' ONNX export script writes it). */
  samplingEncoder?: boolean;
  /** SD 2.x tokenizers pad with "!", SD 1.x with the end token. */
  padToken?: '<|endoftext|>' | '!';
  /** Merged into scheduler/scheduler_config.json. */
  scheduler?: Record<string, unknown>;
  /** Channels and 3x3 conv layers of the UNet: more make each UNet call heavier (for benchmarks). */
  unetChannels?: number;
  unetLayers?: number;
  hiddenSize?: number;
  seed?: number;
}

/** The words the miniature vocabulary spells as single tokens; any other text still tokenizes by bytes. */
export const TINY_VOCABULARY_WORDS = ['a', 'photo', 'of', 'cat', 'dog', 'red', 'blue', 'house', 'in', 'the', 'snow', 'blurry', 'lighthouse', 'at', 'dusk'];

const LATENT_CHANNELS = 4;

class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private counter = 0;

  constructor(private readonly random: SeededRandom) {}

  weight(dims: number[], scale: number): string {
    const count = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = (this.random.uniform() * 2 - 1) * scale;
    return this.constant(data, dims, 'float');
  }

  constant(data: Float32Array | BigInt64Array, dims: number[], type: OnnxTypeName): string {
    const name = `w${this.initializers.length}`;
    this.initializers.push({ name, type, dims, data });
    return name;
  }

  add(op: string, inputs: string[], attributes?: OnnxNode['attributes'], output = `t${this.counter++}`): string {
    this.nodes.push({ op, inputs, outputs: [output], attributes });
    return output;
  }

  cast(input: string, to: OnnxTypeName, output?: string): string {
    return this.add('Cast', [input], { to: OnnxType[to] }, output);
  }

  graph(name: string, inputs: OnnxValue[], outputs: OnnxValue[]): OnnxGraph {
    return { name, nodes: this.nodes, initializers: this.initializers, inputs, outputs };
  }
}

function textEncoder(options: Required<TinyModelOptions>, vocabSize: number, random: SeededRandom): OnnxGraph {
  const g = new GraphBuilder(random);
  const table = g.weight([vocabSize, options.hiddenSize], 1);
  const fp16 = options.precision === 'fp16';
  const embeddings = g.add('Gather', [table, 'input_ids'], { axis: 0 }, fp16 ? undefined : 'last_hidden_state');
  if (fp16) g.cast(embeddings, 'float16', 'last_hidden_state');
  const type: OnnxTypeName = fp16 ? 'float16' : 'float';
  return g.graph(
    'text_encoder',
    [{ name: 'input_ids', type: options.ids, shape: ['batch', 77] }],
    [{ name: 'last_hidden_state', type, shape: ['batch', 77, options.hiddenSize] }],
  );
}

function unet(options: Required<TinyModelOptions>, random: SeededRandom): OnnxGraph {
  const g = new GraphBuilder(random);
  const fp16 = options.precision === 'fp16';
  const type: OnnxTypeName = fp16 ? 'float16' : 'float';
  const batch = options.fixedBatchOfTwo ? 2 : options.dynamicBatch ? 'batch' : 1;
  const sample = fp16 ? g.cast('sample', 'float') : 'sample';
  const context = fp16 ? g.cast('encoder_hidden_states', 'float') : 'encoder_hidden_states';
  // The prompt's influence: the mean of its embeddings, one value per batch entry.
  const contextMean = g.add('ReduceMean', [context], { axes: [1, 2], keepdims: 1 });
  const contextTerm = g.add('Unsqueeze', [contextMean, g.constant(BigInt64Array.from([3n]), [1], 'int64')]);
  const time = g.add('Reshape', [g.cast('timestep', 'float'), g.constant(BigInt64Array.from([-1n, 1n, 1n, 1n]), [4], 'int64')]);
  let timeTerm = g.add('Mul', [time, g.constant(Float32Array.from([0.001]), [1], 'float')]);
  if (options.timestepCond > 0) {
    // The guidance embedding's influence: its mean, one value per batch entry.
    const condMean = g.add('ReduceMean', [g.cast('timestep_cond', 'float')], { axes: [1], keepdims: 1 });
    const condTerm = g.add('Reshape', [condMean, g.constant(BigInt64Array.from([-1n, 1n, 1n, 1n]), [4], 'int64')]);
    timeTerm = g.add('Add', [timeTerm, g.add('Mul', [condTerm, g.constant(Float32Array.from([0.01]), [1], 'float')])]);
  }
  const inputChannels = options.inpainting ? 9 : LATENT_CHANNELS;
  // The residual takes the latents: the first four input channels of an inpainting UNet.
  const latentsIn = options.inpainting
    ? g.add('Slice', [
        sample,
        g.constant(BigInt64Array.from([0n]), [1], 'int64'),
        g.constant(BigInt64Array.from([4n]), [1], 'int64'),
        g.constant(BigInt64Array.from([1n]), [1], 'int64'),
      ])
    : sample;
  let hidden = sample;
  const layers = Math.max(1, options.unetLayers);
  for (let layer = 0; layer < layers; layer++) {
    const inputs = layer === 0 ? inputChannels : options.unetChannels;
    const outputs = layer === layers - 1 ? LATENT_CHANNELS : options.unetChannels;
    const kernel = layers === 1 ? 1 : 3;
    const weight = g.weight([outputs, inputs, kernel, kernel], 1 / Math.sqrt(inputs * kernel * kernel));
    hidden = g.add('Conv', [hidden, weight, g.weight([outputs], 0.01)], { kernel_shape: [kernel, kernel], pads: kernel === 3 ? [1, 1, 1, 1] : [0, 0, 0, 0] });
    if (layer < layers - 1) hidden = g.add('Relu', [hidden]);
  }
  const mixed = g.add('Add', [
    g.add('Mul', [hidden, g.constant(Float32Array.from([0.1]), [1], 'float')]),
    g.add('Mul', [latentsIn, g.constant(Float32Array.from([0.5]), [1], 'float')]),
  ]);
  const withContext = g.add('Add', [g.add('Add', [mixed, contextTerm]), timeTerm], undefined, fp16 ? undefined : 'out_sample');
  if (fp16) g.cast(withContext, 'float16', 'out_sample');
  const timestepValue: OnnxValue =
    options.timestep === 'scalar'
      ? { name: 'timestep', type: fp16 ? 'float16' : 'float', shape: [] }
      : { name: 'timestep', type: fp16 ? 'float16' : options.timestep === 'int64' ? 'int64' : 'float', shape: [options.timestepOfOne ? 1 : batch] };
  return g.graph(
    'unet',
    [
      { name: 'sample', type, shape: [batch, inputChannels, 'height', 'width'] },
      timestepValue,
      { name: 'encoder_hidden_states', type, shape: [batch, 77, options.hiddenSize] },
      ...(options.timestepCond > 0 ? [{ name: 'timestep_cond', type, shape: [batch, options.timestepCond] } as OnnxValue] : []),
    ],
    [{ name: 'out_sample', type, shape: [batch, LATENT_CHANNELS, 'height', 'width'] }],
  );
}

function vaeDecoder(options: Required<TinyModelOptions>, random: SeededRandom): OnnxGraph {
  const g = new GraphBuilder(random);
  const fp16 = options.precision === 'fp16';
  const type: OnnxTypeName = fp16 ? 'float16' : 'float';
  const latents = fp16 ? g.cast('latent_sample', 'float') : 'latent_sample';
  const upscaled = g.add('Resize', [latents, '', g.constant(Float32Array.from([1, 1, 8, 8]), [4], 'float')], { mode: 'nearest' });
  const colours = g.add('Conv', [upscaled, g.weight([3, LATENT_CHANNELS, 1, 1], 0.8), g.weight([3], 0.1)], { kernel_shape: [1, 1] });
  const image = g.add('Tanh', [colours], undefined, fp16 ? undefined : 'sample');
  if (fp16) g.cast(image, 'float16', 'sample');
  return g.graph(
    'vae_decoder',
    [{ name: 'latent_sample', type, shape: [1, LATENT_CHANNELS, 'height', 'width'] }],
    [{ name: 'sample', type, shape: [1, 3, 'image_height', 'image_width'] }],
  );
}

function vaeEncoder(options: Required<TinyModelOptions>, random: SeededRandom): OnnxGraph {
  const g = new GraphBuilder(random);
  const fp16 = options.precision === 'fp16';
  const type: OnnxTypeName = fp16 ? 'float16' : 'float';
  const image = fp16 ? g.cast('sample', 'float') : 'sample';
  const pooled = g.add('AveragePool', [image], { kernel_shape: [8, 8], strides: [8, 8] });
  const mean = g.add(
    'Conv',
    [pooled, g.weight([LATENT_CHANNELS, 3, 1, 1], 0.8), g.weight([LATENT_CHANNELS], 0.1)],
    { kernel_shape: [1, 1] },
    fp16 || options.samplingEncoder ? undefined : 'latent_sample',
  );
  const latents = options.samplingEncoder
    ? g.add(
        'Add',
        [mean, g.add('Mul', [g.add('RandomNormalLike', [mean]), g.constant(Float32Array.from([0.1]), [1], 'float')])],
        undefined,
        fp16 ? undefined : 'latent_sample',
      )
    : mean;
  if (fp16) g.cast(latents, 'float16', 'latent_sample');
  return g.graph(
    'vae_encoder',
    [{ name: 'sample', type, shape: [1, 3, 'image_height', 'image_width'] }],
    [{ name: 'latent_sample', type, shape: [1, LATENT_CHANNELS, 'height', 'width'] }],
  );
}

const DEFAULTS: Required<TinyModelOptions> = {
  ids: 'int32',
  timestep: 'int64',
  precision: 'fp32',
  externalData: false,
  dynamicBatch: true,
  fixedBatchOfTwo: false,
  timestepOfOne: false,
  timestepCond: 0,
  inpainting: false,
  vaeEncoder: true,
  samplingEncoder: false,
  padToken: '<|endoftext|>',
  scheduler: {},
  unetChannels: 8,
  unetLayers: 1,
  hiddenSize: 16,
  seed: 1,
};

async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, JSON.stringify(value, null, 2));
}

async function writeModel(folder: string, graph: OnnxGraph, externalData = false): Promise<void> {
  await mkdir(folder, { recursive: true });
  const external: ExternalData | undefined = externalData ? { location: 'model.onnx_data', chunks: [], length: 0 } : undefined;
  await writeFile(path.join(folder, 'model.onnx'), encodeModel(graph, external));
  if (external) await writeFile(path.join(folder, external.location), Buffer.concat(external.chunks));
}

/** Writes a complete model folder at `folder` and returns its path. */
export async function writeTinyModel(folder: string, overrides: TinyModelOptions = {}): Promise<string> {
  const options: Required<TinyModelOptions> = { ...DEFAULTS, ...overrides };
  const random = new SeededRandom(options.seed);
  const merges = mergesForWords(TINY_VOCABULARY_WORDS);
  const vocab = clipVocabulary(merges);
  await mkdir(path.join(folder, 'tokenizer'), { recursive: true });
  await writeJson(path.join(folder, 'tokenizer', 'vocab.json'), vocab);
  await writeFile(path.join(folder, 'tokenizer', 'merges.txt'), mergesFile(merges));
  const token = (content: string): object => ({ content, lstrip: false, normalized: true, rstrip: false, single_word: false });
  await writeJson(path.join(folder, 'tokenizer', 'special_tokens_map.json'), {
    bos_token: token('<|startoftext|>'),
    eos_token: token('<|endoftext|>'),
    pad_token: options.padToken,
    unk_token: token('<|endoftext|>'),
  });
  await writeModel(path.join(folder, 'text_encoder'), textEncoder(options, Object.keys(vocab).length, random));
  await writeModel(path.join(folder, 'unet'), unet(options, random), options.externalData);
  await writeModel(path.join(folder, 'vae_decoder'), vaeDecoder(options, random));
  await writeJson(path.join(folder, 'vae_decoder', 'config.json'), { _class_name: 'AutoencoderKL', latent_channels: LATENT_CHANNELS, scaling_factor: 0.18215 });
  if (options.vaeEncoder) await writeModel(path.join(folder, 'vae_encoder'), vaeEncoder(options, random));
  await mkdir(path.join(folder, 'scheduler'), { recursive: true });
  await writeJson(path.join(folder, 'scheduler', 'scheduler_config.json'), {
    _class_name: 'PNDMScheduler',
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    beta_start: 0.00085,
    num_train_timesteps: 1000,
    prediction_type: 'epsilon',
    set_alpha_to_one: false,
    skip_prk_steps: true,
    steps_offset: 1,
    timestep_spacing: 'leading',
    ...options.scheduler,
  });
  const component = (library: string, kind: string): [string, string] => [library, kind];
  await writeJson(path.join(folder, 'model_index.json'), {
    _class_name: 'OnnxStableDiffusionPipeline',
    _diffusers_version: '0.30.0',
    text_encoder: component('diffusers', 'OnnxRuntimeModel'),
    tokenizer: component('transformers', 'CLIPTokenizer'),
    unet: component('diffusers', 'OnnxRuntimeModel'),
    vae_decoder: component('diffusers', 'OnnxRuntimeModel'),
    ...(options.vaeEncoder ? { vae_encoder: component('diffusers', 'OnnxRuntimeModel') } : {}),
    scheduler: component('diffusers', String(options.scheduler._class_name ?? 'PNDMScheduler')),
  });
  return folder;
}

/** The model name that examples use: a tiny random-weight export, written on first use (its images are noise). */
export const SANDBOX_MODEL = 'sandbox-tiny-sd';

/** The sandbox models examples use, each written on first use: the plain one and an inpainting (9-channel) one. */
export const SANDBOX_MODELS: Record<string, TinyModelOptions> = {
  [SANDBOX_MODEL]: {},
  'sandbox-tiny-sd-inpainting': { inpainting: true },
};

const sandboxModels = new Map<string, Promise<string>>();

/**
 * A sandbox model's folder under `modelsDir`, written the first time it is asked for. It is written
 * beside its final place and renamed, so a half-written model is never seen, even across processes.
 */
export function ensureSandboxModel(modelsDir: string, name: string = SANDBOX_MODEL): Promise<string> {
  const options = SANDBOX_MODELS[name];
  if (!options) return Promise.reject(new Error(`"${name}" is not a sandbox model`));
  const folder = path.join(modelsDir, name);
  let ready = sandboxModels.get(folder);
  if (!ready) {
    ready = (async () => {
      if (await isFile(path.join(folder, 'model_index.json'))) return folder;
      const staging = await mkdtemp(path.join(modelsDir, `.${name}-`)).catch(async (error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        await mkdir(modelsDir, { recursive: true });
        return mkdtemp(path.join(modelsDir, `.${name}-`));
      });
      await writeTinyModel(staging, options);
      await rename(staging, folder).catch(async (error: unknown) => {
        await rm(staging, { recursive: true, force: true });
        // Another process finished first: its copy is as good as ours.
        if (!(await isFile(path.join(folder, 'model_index.json')))) throw error;
      });
      return folder;
    })();
    ready.catch(() => sandboxModels.delete(folder));
    sandboxModels.set(folder, ready);
  }
  return ready;
}

async function isFile(file: string): Promise<boolean> {
  return stat(file).then(
    (found) => found.isFile(),
    () => false,
  );
}
