import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { settleGeneration } from '../lib/local/params';
import { LocalRunner } from '../lib/local/runner';
import { writeTinyModel } from '../lib/sandbox/tiny-sd';

/**
 * local-sd on a generated model heavy enough that one UNet call takes tens of milliseconds:
 * the pipeline's wall time against the onnxruntime calls it made, and how long Node-RED's event
 * loop is held up while a generation runs beside it.
 */
export interface LocalSdReport {
  /** Mostly UNet calls: 20 of the 23 calls a generation makes. */
  meanOnnxCallMs: number;
  /** Totals over three generations. */
  pipelineMs: number;
  onnxMs: number;
  nodeRedMs: number;
  worstLoopDelayMs: number;
  meanLoopDelayMs: number;
}

type Deploy = (flows: unknown[]) => Promise<void>;
type Through = (id: string, msg: Record<string, unknown>) => Promise<Record<string, unknown>>;

const PARAMS = { width: 512, height: 512, num_inference_steps: 20, guidance_scale: 7.5, seed: 1, scheduler: 'dpmpp_2m' };

export async function localSdBenchmark(deploy: Deploy, through: Through): Promise<LocalSdReport> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'image-gen-bench-sd-'));
  const model = await writeTinyModel(path.join(root, 'heavy'), { unetChannels: 128, unetLayers: 8, hiddenSize: 64 });
  try {
    // The pipeline on its own, in a runner process, as local-sd runs it.
    const runner = new LocalRunner({ device: 'cpu' });
    const settings = settleGeneration('a lighthouse at dusk', PARAMS);
    await runner.generate(model, settings); // loads the model and warms the JIT
    const timings = { totalMs: 0, onnxMs: 0, onnxRuns: 0 };
    for (let round = 0; round < 3; round++) {
      const measured = (await runner.generate(model, settings)).timings;
      timings.totalMs += measured.totalMs;
      timings.onnxMs += measured.onnxMs;
      timings.onnxRuns += measured.onnxRuns;
    }
    runner.stop();

    await deploy([
      { id: 'f1', type: 'tab' },
      { id: 'sd', z: 'f1', x: 1, y: 1, type: 'local-sd', model, device: 'cpu', threads: 0, prompt: '', params: PARAMS, wires: [['sink']] },
      { id: 'sink', z: 'f1', x: 1, y: 1, type: 'junction', wires: [] },
    ]);
    await through('sd', { payload: 'a lighthouse at dusk' }); // loads the model
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const started = performance.now();
    await through('sd', { payload: 'a lighthouse at dusk' });
    const nodeRedMs = performance.now() - started;
    histogram.disable();
    return {
      meanOnnxCallMs: timings.onnxMs / timings.onnxRuns,
      pipelineMs: timings.totalMs,
      onnxMs: timings.onnxMs,
      nodeRedMs,
      worstLoopDelayMs: histogram.max / 1e6,
      meanLoopDelayMs: histogram.mean / 1e6,
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
