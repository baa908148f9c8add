import { execFile } from 'node:child_process';
import os from 'node:os';
import type { InferenceSession } from 'onnxruntime-node';
import { InvalidRequestError } from '../contract';
import { readModelFolder } from './model-folder';
import { generate } from './pipeline';
import type { LoadedModel } from './pipeline';
import { ONNXRUNTIME_MISSING, runnerOptionsSchema, runnerRequestSchema } from './runner-protocol';
import type { DeviceReport, LoadResult, RunnerEvent, RunnerGenerationResult, RunnerRequest } from './runner-protocol';
import type { OnnxRuntime } from './tensors';
import { ClipTokenizer } from './tokenizer';

/**
 * The runner process: owns onnxruntime and its sessions, so `session.run` (a blocking native
 * call) never runs on Node-RED's event loop, and a crash here never takes Node-RED down.
 * It does one thing at a time, in the order Node-RED asks; cancel and status are answered
 * between steps.
 */
const options = runnerOptionsSchema.parse(JSON.parse(process.argv[2] ?? '{"device":"cpu"}'));

class CancelledError extends Error {}

let runtime: Promise<OnnxRuntime> | undefined;
function onnxRuntime(): Promise<OnnxRuntime> {
  runtime ??= import('onnxruntime-node').catch(() => {
    throw new Error(ONNXRUNTIME_MISSING);
  });
  return runtime;
}

let loaded: { dir: string; model: Promise<LoadedModel> } | undefined;
let activeDevice: 'cpu' | 'cuda' = options.device;
let fallbackReason: string | undefined;
const warnings: string[] = [];
const cancelled = new Set<number>();

function send(event: RunnerEvent): void {
  process.send?.(event);
}

function sessionOptions(device: 'cpu' | 'cuda'): InferenceSession.SessionOptions {
  return {
    executionProviders: device === 'cuda' ? [{ name: 'cuda', deviceId: options.deviceId }] : ['cpu'],
    ...(options.threads > 0 ? { intraOpNumThreads: options.threads } : {}),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // Spinning threads would burn CPU between calls; an idle runner should cost nothing.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}

/** Opens a session by path (so external weights beside it are found), on CUDA when asked and possible. */
async function openSession(ort: OnnxRuntime, file: string): Promise<InferenceSession> {
  if (activeDevice === 'cuda') {
    try {
      return await ort.InferenceSession.create(file, sessionOptions('cuda'));
    } catch (error) {
      activeDevice = 'cpu';
      fallbackReason = `CUDA could not be used, so local-sd runs on the CPU: ${(error as Error).message.split('\n')[0]}`;
      warnings.push(fallbackReason);
    }
  }
  return ort.InferenceSession.create(file, sessionOptions('cpu'));
}

async function openModel(dir: string): Promise<LoadedModel> {
  const ort = await onnxRuntime();
  const folder = await readModelFolder(dir);
  const tokenizer = new ClipTokenizer(folder.tokenizer);
  const open = (file: string, component: string): Promise<InferenceSession> =>
    openSession(ort, file).catch((error: Error) => {
      throw new InvalidRequestError(`model "${folder.name}": ${component}/model.onnx could not be loaded: ${error.message.split('\n')[0]}`);
    });
  const model: LoadedModel = {
    folder,
    tokenizer,
    textEncoder: await open(folder.textEncoder, 'text_encoder'),
    unet: await open(folder.unet, 'unet'),
    vaeDecoder: await open(folder.vaeDecoder, 'vae_decoder'),
    vaeEncoder: folder.vaeEncoder ? await open(folder.vaeEncoder, 'vae_encoder') : undefined,
  };
  const unetType = model.unet.inputMetadata.find((input) => input.name === 'sample');
  if (activeDevice === 'cpu' && unetType?.isTensor && unetType.type === 'float16') {
    warnings.push(`model "${folder.name}" is an fp16 export, which runs slowly on the CPU: use an fp32 export there`);
  }
  return model;
}

/** The cached model, loading it first; the runner keeps one model (Node-RED restarts it to switch). */
function modelAt(dir: string): Promise<LoadedModel> {
  if (loaded && loaded.dir !== dir) throw new Error(`the runner holds model ${loaded.dir}; it must be restarted to load ${dir}`);
  if (!loaded) {
    const model = openModel(dir);
    loaded = { dir, model };
    model.catch(() => (loaded = undefined));
  }
  return loaded.model;
}

function nvidiaSmi(): Promise<{ name: string; totalGb: number; usedGb: number } | undefined> {
  return new Promise((resolve) => {
    execFile(
      'nvidia-smi',
      [`--id=${options.deviceId}`, '--query-gpu=name,memory.total,memory.used', '--format=csv,noheader,nounits'],
      { timeout: 3000 },
      (error, stdout) => {
        const [name, total, used] = error
          ? []
          : stdout
              .trim()
              .split(',')
              .map((field) => field.trim());
        resolve(name ? { name, totalGb: Number(total) / 1024, usedGb: Number(used) / 1024 } : undefined);
      },
    );
  });
}

const round = (value: number): number => Math.round(value * 100) / 100;

async function deviceReport(): Promise<DeviceReport> {
  const ort = await onnxRuntime().catch(() => undefined);
  const common = {
    processRssMb: Math.round(process.memoryUsage().rss / 1024 / 1024),
    loadedModel: loaded?.dir ?? null,
    onnxruntimeVersion: ort?.env.versions.common ?? null,
    threads: options.threads,
    fallbackReason,
  };
  const gpu = activeDevice === 'cuda' ? await nvidiaSmi() : undefined;
  if (gpu)
    return {
      device: 'cuda',
      deviceName: gpu.name,
      memoryTotalGb: round(gpu.totalGb),
      memoryUsedGb: round(gpu.usedGb),
      memoryFreeGb: round(gpu.totalGb - gpu.usedGb),
      ...common,
    };
  const total = os.totalmem() / 1024 ** 3;
  const free = os.freemem() / 1024 ** 3;
  return {
    device: activeDevice,
    deviceName: os.cpus()[0]?.model ?? 'CPU',
    memoryTotalGb: round(total),
    memoryUsedGb: round(total - free),
    memoryFreeGb: round(free),
    ...common,
  };
}

async function handle(request: Exclude<RunnerRequest, { type: 'cancel' }>): Promise<unknown> {
  if (request.type === 'status') return deviceReport();
  const started = performance.now();
  if (!loaded) send({ type: 'loading', id: request.id });
  const model = await modelAt(request.modelDir);
  if (request.type === 'load')
    return { model: model.folder.name, loadMs: Math.round(performance.now() - started), device: activeDevice, warnings } satisfies LoadResult;
  const output = await generate(await onnxRuntime(), model, request.settings, {
    checkpoint: async () => {
      // Let a cancel message that arrived during the last step be read before the next one.
      await new Promise((resolve) => setImmediate(resolve));
      if (cancelled.has(request.id)) throw new CancelledError('cancelled');
    },
    onStep: (step, steps) => send({ type: 'step', id: request.id, step, steps }),
  });
  return { ...output, device: activeDevice, warnings: [...warnings, ...output.warnings] } satisfies RunnerGenerationResult;
}

function failureOf(error: unknown): RunnerEvent & { type: 'failed' } {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof CancelledError) return { type: 'failed', id: 0, kind: 'cancelled', message };
  if (error instanceof InvalidRequestError) return { type: 'failed', id: 0, kind: 'invalid', message };
  return { type: 'failed', id: 0, kind: 'failed', message };
}

let queue = Promise.resolve();
process.on('message', (raw) => {
  const parsed = runnerRequestSchema.safeParse(raw);
  if (!parsed.success) return;
  const request = parsed.data;
  if (request.type === 'cancel') return void cancelled.add(request.id);
  const work = async (): Promise<void> => {
    try {
      send({ type: 'done', id: request.id, value: await handle(request) });
    } catch (error) {
      send({ ...failureOf(error), id: request.id });
    } finally {
      cancelled.delete(request.id);
    }
  };
  // Status is answered at once; the rest run one at a time.
  if (request.type === 'status') void work();
  else queue = queue.then(work);
});
// Node-RED went away (or stopped this runner): so does the runner.
process.on('disconnect', () => process.exit(0));
