import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { InvalidRequestError } from '../contract';
import { ensureSandboxModel, SANDBOX_MODELS } from '../sandbox/tiny-sd';
import { schedulerConfigSchema } from './schedulers';
import type { SchedulerConfig } from './schedulers';
import { specialTokensSchema, vocabularySchema } from './tokenizer';
import type { ClipTokenizerFiles } from './tokenizer';

/**
 * Model folders in the layout of Hugging Face's ONNX Stable Diffusion exports (diffusers'
 * OnnxStableDiffusionPipeline, optimum): model_index.json, tokenizer/, text_encoder/, unet/,
 * vae_decoder/, optional vae_encoder/, scheduler/scheduler_config.json.
 */
export interface ModelFolder {
  name: string;
  dir: string;
  textEncoder: string;
  unet: string;
  vaeDecoder: string;
  /** Present when the export can encode images, which img2img needs. */
  vaeEncoder?: string;
  tokenizer: ClipTokenizerFiles;
  scheduler: SchedulerConfig;
  /** Latents are divided by this before the VAE decodes them (0.18215 for SD 1.x and 2.x). */
  vaeScalingFactor: number;
}

/** A model folder that is missing a file or has one that cannot be read: the message names the file. */
export class ModelFolderError extends InvalidRequestError {
  constructor(message: string) {
    super(message);
    this.name = 'ModelFolderError';
  }
}

const modelIndexSchema = z.looseObject({ _class_name: z.string().optional() });
const vaeConfigSchema = z.looseObject({ scaling_factor: z.number().positive().default(0.18215) });

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    (info) => info.isFile(),
    () => false,
  );
}

async function readText(dir: string, relative: string): Promise<string> {
  try {
    return await readFile(path.join(dir, relative), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelFolderError(`model "${path.basename(dir)}" has no readable ${relative} (${code ?? String(error)}): is it a complete ONNX export?`);
  }
}

async function readJson<T extends z.ZodType>(dir: string, relative: string, schema: T): Promise<z.output<T>> {
  const text = await readText(dir, relative);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ModelFolderError(`model "${path.basename(dir)}": ${relative} is not valid JSON (${(error as Error).message})`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new ModelFolderError(
      `model "${path.basename(dir)}": ${relative} is malformed (${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'file'}: ${issue.message}`).join('; ')})`,
    );
  return parsed.data;
}

async function requireModel(dir: string, component: string): Promise<string> {
  const file = path.join(dir, component, 'model.onnx');
  if (!(await exists(file))) throw new ModelFolderError(`model "${path.basename(dir)}" is missing ${component}/model.onnx`);
  return file;
}

function parseMerges(dir: string, text: string): string[] {
  const lines = text.split(/\r?\n/).filter((line) => line !== '' && !line.startsWith('#version'));
  const bad = lines.findIndex((line) => line.split(' ').length !== 2);
  if (bad >= 0) throw new ModelFolderError(`model "${path.basename(dir)}": tokenizer/merges.txt line ${bad + 2} is not "left right"`);
  return lines;
}

async function readTokenizer(dir: string): Promise<ClipTokenizerFiles> {
  const vocab = await readJson(dir, 'tokenizer/vocab.json', vocabularySchema);
  const merges = parseMerges(dir, await readText(dir, 'tokenizer/merges.txt'));
  const special = (await exists(path.join(dir, 'tokenizer', 'special_tokens_map.json')))
    ? await readJson(dir, 'tokenizer/special_tokens_map.json', specialTokensSchema)
    : specialTokensSchema.parse({});
  const definition = (await exists(path.join(dir, 'tokenizer', 'tokenizer.json')))
    ? await readJson(dir, 'tokenizer/tokenizer.json', z.looseObject({ model: z.looseObject({}) }))
    : undefined;
  return { vocab, merges, special, definition };
}

/** Reads and checks a model folder; the first missing or malformed file is named in the error. */
export async function readModelFolder(dir: string): Promise<ModelFolder> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new ModelFolderError(`model folder ${dir} does not exist`);
  await readJson(dir, 'model_index.json', modelIndexSchema);
  const vaeEncoderFile = path.join(dir, 'vae_encoder', 'model.onnx');
  const vaeConfig = (await exists(path.join(dir, 'vae_decoder', 'config.json')))
    ? await readJson(dir, 'vae_decoder/config.json', vaeConfigSchema)
    : vaeConfigSchema.parse({});
  return {
    name: path.basename(dir),
    dir,
    textEncoder: await requireModel(dir, 'text_encoder'),
    unet: await requireModel(dir, 'unet'),
    vaeDecoder: await requireModel(dir, 'vae_decoder'),
    vaeEncoder: (await exists(vaeEncoderFile)) ? vaeEncoderFile : undefined,
    tokenizer: await readTokenizer(dir),
    scheduler: await readJson(dir, 'scheduler/scheduler_config.json', schedulerConfigSchema),
    vaeScalingFactor: vaeConfig.scaling_factor,
  };
}

/**
 * The folder a `model` setting names: an absolute path as it is, otherwise a folder directly
 * under the models directory (a name with a path separator or `..` is refused).
 */
export function resolveModelFolder(model: string, modelsDir: string): string {
  const name = model.trim();
  if (name === '') throw new InvalidRequestError('no model is selected: choose a model folder in the node, or set msg.model');
  if (path.isAbsolute(name)) return path.normalize(name);
  if (name === '.' || name === '..' || /[\\/]/.test(name) || name.includes('\u0000')) {
    throw new InvalidRequestError(`model "${name}" must be a folder name inside the models directory (${modelsDir}) or an absolute path`);
  }
  return path.join(modelsDir, name);
}

/** The folder of a `model` setting, ready to load: the sandbox model is written on first use. */
export async function locateModelFolder(model: string, modelsDir: string): Promise<string> {
  const name = model.trim();
  return Object.hasOwn(SANDBOX_MODELS, name) ? ensureSandboxModel(modelsDir, name) : resolveModelFolder(model, modelsDir);
}

export interface ModelSummary {
  name: string;
  dir: string;
  img2img: boolean;
}

/** The model folders (those with a model_index.json) directly under the models directory, and the sandbox model, written on first use. */
export async function listModelFolders(modelsDir: string): Promise<ModelSummary[]> {
  const entries = await readdir(modelsDir, { withFileTypes: true }).catch(() => []);
  const models: ModelSummary[] = [];
  for (const entry of entries) {
    const dir = path.join(modelsDir, entry.name);
    if (!entry.isDirectory() || !(await exists(path.join(dir, 'model_index.json')))) continue;
    models.push({ name: entry.name, dir, img2img: await exists(path.join(dir, 'vae_encoder', 'model.onnx')) });
  }
  for (const name of Object.keys(SANDBOX_MODELS)) {
    if (!models.some((model) => model.name === name)) models.push({ name, dir: path.join(modelsDir, name), img2img: false });
  }
  return models.sort((a, b) => a.name.localeCompare(b.name));
}
