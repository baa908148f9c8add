import path from 'node:path';
import { z } from 'zod';
import { describeIssues, InvalidRequestError } from '../contract';
import { AdminError } from '../editor/admin';
import { listModelFolders, locateModelFolder } from './model-folder';
import { acquireRunner, activeRunners, onnxRuntimeInstalled } from './runner';
import { runnerOptionsSchema } from './runner-protocol';

/**
 * What local-sd's admin endpoints answer, mirroring VisionCraft's local server: GET /models,
 * GET /status and POST /load_model; failures as AdminError or InvalidRequestError.
 */

/** The models directory: settings.js `localSdModelsDir`, else `<userDir>/models`. */
export function modelsDirectory(settings: { localSdModelsDir?: unknown; userDir?: string }): string {
  if (typeof settings.localSdModelsDir === 'string' && settings.localSdModelsDir.trim() !== '') return path.resolve(settings.localSdModelsDir);
  return path.join(settings.userDir ?? process.cwd(), 'models');
}

export async function modelsAnswer(modelsDir: string): Promise<Record<string, unknown>> {
  const models = await listModelFolders(modelsDir);
  return {
    models_dir: modelsDir,
    onnxruntime_installed: onnxRuntimeInstalled(),
    local_models: Object.fromEntries(models.map((model) => [model.name, { name: model.name, path: model.dir, img2img: model.img2img }])),
  };
}

export async function statusAnswer(modelsDir: string): Promise<Record<string, unknown>> {
  const runners = await Promise.all(
    activeRunners().map(async (runner) => {
      const report = await runner.status().catch(() => undefined);
      return {
        requested_device: runner.options.device,
        threads: runner.options.threads,
        running: runner.pid !== undefined,
        queued: runner.queued,
        model_loaded: Boolean(report?.loadedModel),
        current_model: report?.loadedModel ? path.basename(report.loadedModel) : null,
        ...(report
          ? {
              device: report.device,
              device_name: report.deviceName,
              memory_total: report.memoryTotalGb,
              memory_used: report.memoryUsedGb,
              memory_free: report.memoryFreeGb,
              process_rss_mb: report.processRssMb,
              onnxruntime_version: report.onnxruntimeVersion,
              ...(report.fallbackReason ? { fallback_reason: report.fallbackReason } : {}),
            }
          : {}),
      };
    }),
  );
  const models = await listModelFolders(modelsDir);
  return { onnxruntime_installed: onnxRuntimeInstalled(), models_dir: modelsDir, available_models: models.map((model) => model.name), runners };
}

const loadRequestSchema = z.object({
  model: z.string().min(1),
  device: z.enum(['cpu', 'cuda']).default('cpu'),
  threads: z.coerce.number().int().nonnegative().default(0),
});

export async function loadModelAnswer(modelsDir: string, body: unknown): Promise<Record<string, unknown>> {
  const parsed = loadRequestSchema.safeParse(body ?? {});
  if (!parsed.success) throw new InvalidRequestError(describeIssues(parsed.error));
  const { runner, release } = acquireRunner(runnerOptionsSchema.parse({ device: parsed.data.device, threads: parsed.data.threads }));
  try {
    const loaded = await runner.load(await locateModelFolder(parsed.data.model, modelsDir));
    return { message: 'Model loaded successfully', model: loaded.model, device: loaded.device, load_time: loaded.loadMs / 1000, warnings: loaded.warnings };
  } catch (error) {
    if (error instanceof InvalidRequestError) throw new AdminError(400, 'MODEL_NOT_AVAILABLE', error.message);
    throw error;
  } finally {
    release();
  }
}
