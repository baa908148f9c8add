import { z } from 'zod';
import { generationSettingsSchema } from './params';
import { SCHEDULERS } from './schedulers';

/**
 * Messages between Node-RED and the runner process (IPC with advanced serialization, so image
 * bytes travel as binary). Both sides parse what they receive.
 */
/**
 * Installs onnxruntime-node's CPU build. Without `skip`, its install script downloads CUDA libraries on
 * Linux x64 from outside npm, and npm silently drops the package when that download fails.
 */
export const ONNXRUNTIME_CPU_INSTALL = 'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node';

export const ONNXRUNTIME_MISSING =
  'local-sd needs onnxruntime-node, which is not installed: in your Node-RED user directory run ' +
  `"${ONNXRUNTIME_CPU_INSTALL}" (the CPU build, which downloads nothing beyond npm), then restart Node-RED; local-sd's help says how to add CUDA`;

export const runnerOptionsSchema = z.object({
  device: z.enum(['cpu', 'cuda']),
  deviceId: z.number().int().nonnegative().default(0),
  /** onnxruntime's intra-op threads; 0 lets it choose (one per physical core). */
  threads: z.number().int().nonnegative().default(0),
});
export type RunnerOptions = z.input<typeof runnerOptionsSchema>;

export const runnerRequestSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('load'), id: z.number(), modelDir: z.string() }),
  z.object({ type: z.literal('generate'), id: z.number(), modelDir: z.string(), settings: generationSettingsSchema }),
  z.object({ type: z.literal('cancel'), id: z.number() }),
  z.object({ type: z.literal('status'), id: z.number() }),
]);
export type RunnerRequest = z.output<typeof runnerRequestSchema>;

export const deviceReportSchema = z.object({
  /** The device sessions actually run on. */
  device: z.enum(['cpu', 'cuda']),
  deviceName: z.string(),
  /** Why CUDA was asked for and CPU is used. */
  fallbackReason: z.string().optional(),
  /** GPU memory on CUDA, system memory on CPU, in GB. */
  memoryTotalGb: z.number().nullable(),
  memoryUsedGb: z.number().nullable(),
  memoryFreeGb: z.number().nullable(),
  processRssMb: z.number(),
  loadedModel: z.string().nullable(),
  onnxruntimeVersion: z.string().nullable(),
  threads: z.number(),
});
export type DeviceReport = z.output<typeof deviceReportSchema>;

export const generationResultSchema = z.object({
  png: z.custom<Uint8Array>((value) => value instanceof Uint8Array),
  seed: z.number(),
  scheduler: z.enum(SCHEDULERS),
  truncatedTokens: z.number(),
  timings: z.object({ totalMs: z.number(), onnxMs: z.number(), onnxRuns: z.number() }),
  device: z.enum(['cpu', 'cuda']),
  warnings: z.array(z.string()),
});
export type RunnerGenerationResult = z.output<typeof generationResultSchema>;

export const loadResultSchema = z.object({ model: z.string(), loadMs: z.number(), device: z.enum(['cpu', 'cuda']), warnings: z.array(z.string()) });
export type LoadResult = z.output<typeof loadResultSchema>;

/** invalid: the request or model is wrong (fix the input); cancelled: stopped on request; failed: anything else. */
export const failureKinds = ['invalid', 'cancelled', 'failed'] as const;

export const runnerEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('loading'), id: z.number() }),
  z.object({ type: z.literal('step'), id: z.number(), step: z.number(), steps: z.number() }),
  z.object({ type: z.literal('done'), id: z.number(), value: z.unknown() }),
  z.object({ type: z.literal('failed'), id: z.number(), kind: z.enum(failureKinds), message: z.string() }),
]);
export type RunnerEvent = z.output<typeof runnerEventSchema>;
