import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { z } from 'zod';
import { InvalidRequestError, configuredRequestSchema } from '../contract';
import { optionalInteger } from '../editor/node-settings';
import { ConcurrencyLimiter } from '../http/limiters';
import { abortReason } from '../http/wait-queue';
import type { GenerationSettings } from './params';
import { deviceReportSchema, generationResultSchema, loadResultSchema, ONNXRUNTIME_MISSING, runnerEventSchema, runnerOptionsSchema } from './runner-protocol';
import type { DeviceReport, LoadResult, RunnerEvent, RunnerGenerationResult, RunnerOptions, RunnerRequest } from './runner-protocol';

const RUNNER_ENTRY = path.join(__dirname, 'runner-process.js');
/** How long a cancelled step may take to notice before the runner process is killed. */
export const CANCEL_GRACE_MS = 400;
const STATUS_TIMEOUT_MS = 5_000;
/** A runner no node uses is stopped after this long; a redeploy in between keeps its model loaded. */
const IDLE_STOP_MS = 60_000;
const MAX_WAITING = 100;

/** The runner failed (crashed, or a step threw): not the user's input. */
export class RunnerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunnerError';
  }
}

export interface RunOptions {
  signal?: AbortSignal;
  /** The model is being loaded before the generation starts. */
  onLoading?: () => void;
  onStep?: (step: number, steps: number) => void;
}

interface Call {
  child: ChildProcess;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  options: RunOptions;
}

/** More onnxruntime threads than this is a typo, not a machine. */
const MAX_THREADS = 256;

/** local-sd's flow JSON settings (DESIGN.md names); its editor validates with the same schema. */
export const localSdSettingsSchema = configuredRequestSchema.extend({
  /** A VisionCraft Pro server's provider config: generate there instead of on this machine (empty for here). */
  provider: z.string().optional(),
  device: z.enum(['cpu', 'cuda']).optional(),
  /** onnxruntime threads; 0 or empty lets it choose. */
  threads: optionalInteger(0, MAX_THREADS),
});

/** onnxruntime-node is not installed: the message says how to install it. */
export class OnnxRuntimeMissingError extends InvalidRequestError {
  override readonly statusKey = 'notInstalled';
  constructor() {
    super(ONNXRUNTIME_MISSING);
    this.name = 'OnnxRuntimeMissingError';
  }
}

/** Whether onnxruntime-node can be found, without loading it into Node-RED's process. */
export function onnxRuntimeInstalled(): boolean {
  try {
    require.resolve('onnxruntime-node');
    return true;
  } catch {
    return false;
  }
}

/** Node-RED's side of one runner process: a queue (one generation at a time), cancel, restart. */
export class LocalRunner {
  readonly options: ReturnType<typeof runnerOptionsSchema.parse>;
  private child: ChildProcess | undefined;
  /** The model folder the process holds (or is loading). */
  private holding: string | undefined;
  private readonly calls = new Map<number, Call>();
  private nextId = 1;
  private stderrTail = '';
  private readonly slot = new ConcurrencyLimiter({
    max: 1,
    maxWaiting: MAX_WAITING,
    name: 'local-sd',
    advice: 'local generations run one at a time: slow the flow down',
  });

  constructor(options: RunnerOptions) {
    this.options = runnerOptionsSchema.parse(options);
  }

  /** The runner process's id while one runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get modelDir(): string | undefined {
    return this.holding;
  }

  /** Generations running or waiting. */
  get queued(): number {
    return this.slot.inFlight + this.slot.waiting;
  }

  async generate(modelDir: string, settings: GenerationSettings, options: RunOptions = {}): Promise<RunnerGenerationResult> {
    const value = await this.slot.run(() => this.call({ type: 'generate', modelDir, settings }, options), options.signal);
    return generationResultSchema.parse(value);
  }

  /** Loads a model ahead of the first generation (VisionCraft's /load_model). */
  async load(modelDir: string, options: RunOptions = {}): Promise<LoadResult> {
    const value = await this.slot.run(() => this.call({ type: 'load', modelDir }, options), options.signal);
    return loadResultSchema.parse(value);
  }

  /** The device report of the running process, or undefined when none runs. */
  async status(): Promise<DeviceReport | undefined> {
    if (!this.child) return undefined;
    const timeout = AbortSignal.timeout(STATUS_TIMEOUT_MS);
    return deviceReportSchema.parse(await this.call({ type: 'status' }, { signal: timeout }));
  }

  /** Frees the model by stopping the process: onnxruntime does not give a released session's memory back. */
  async unload(): Promise<void> {
    await this.slot.run(async () => this.stop());
  }

  /** Stops the process now; calls in flight fail. */
  stop(): void {
    const child = this.child;
    this.child = undefined;
    this.holding = undefined;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  private start(): ChildProcess {
    if (!onnxRuntimeInstalled()) throw new OnnxRuntimeMissingError();
    this.stderrTail = '';
    const child = fork(RUNNER_ENTRY, [JSON.stringify(this.options)], { serialization: 'advanced', execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    child.stderr?.on('data', (chunk: Buffer) => (this.stderrTail = (this.stderrTail + chunk.toString()).slice(-2000)));
    child.on('message', (raw) => this.onEvent(child, raw));
    child.on('error', (error) => this.failCalls(child, new RunnerError(`the local-sd runner process failed: ${error.message}`)));
    child.on('exit', (code, signal) => {
      if (this.child === child) {
        this.child = undefined;
        this.holding = undefined;
      }
      const detail = this.stderrTail.trim() ? `: ${this.stderrTail.trim().split('\n').slice(-3).join(' ')}` : '';
      this.failCalls(child, new RunnerError(`the local-sd runner process stopped (${signal ?? `exit code ${code}`})${detail}`));
    });
    this.child = child;
    return child;
  }

  private failCalls(child: ChildProcess, error: Error): void {
    for (const [id, call] of this.calls) {
      if (call.child !== child) continue;
      this.calls.delete(id);
      call.reject(error);
    }
  }

  private onEvent(child: ChildProcess, raw: unknown): void {
    const parsed = runnerEventSchema.safeParse(raw);
    if (!parsed.success) return;
    const event: RunnerEvent = parsed.data;
    const call = this.calls.get(event.id);
    if (!call || call.child !== child) return;
    if (event.type === 'loading') return call.options.onLoading?.();
    if (event.type === 'step') return call.options.onStep?.(event.step, event.steps);
    this.calls.delete(event.id);
    if (event.type === 'done') return call.resolve(event.value);
    if (event.kind === 'cancelled') return call.reject(toError(abortReason(call.options.signal)));
    call.reject(event.kind === 'invalid' ? new InvalidRequestError(event.message) : new RunnerError(event.message));
  }

  private call(request: DistributiveOmit<RunnerRequest, 'id'>, options: RunOptions): Promise<unknown> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(toError(abortReason(signal)));
    if ('modelDir' in request && this.holding !== undefined && this.holding !== request.modelDir) this.stop();
    let child: ChildProcess;
    try {
      child = this.child ?? this.start();
    } catch (error) {
      return Promise.reject(error);
    }
    if ('modelDir' in request) this.holding = request.modelDir;
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      let killTimer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        child.send({ type: 'cancel', id });
        // A step that does not end in time is stopped the hard way.
        killTimer = setTimeout(() => {
          if (this.calls.has(id) && this.child === child) this.stop();
        }, CANCEL_GRACE_MS);
      };
      const settle = (): void => {
        clearTimeout(killTimer);
        signal?.removeEventListener('abort', onAbort);
      };
      this.calls.set(id, {
        child,
        options,
        resolve: (value) => {
          settle();
          resolve(value);
        },
        reject: (error) => {
          settle();
          reject(signal?.aborted ? toError(abortReason(signal)) : error);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      child.send({ ...request, id });
    });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

interface RunnerEntry {
  runner: LocalRunner;
  users: number;
  idleTimer?: NodeJS.Timeout;
}

const runners = new Map<string, RunnerEntry>();

/** The runner options a local-sd node's (parsed) settings ask for. */
export function runnerOptionsFor(settings: z.output<typeof localSdSettingsSchema>): RunnerOptions {
  return { device: settings.device ?? 'cpu', threads: settings.threads || 0 };
}

/**
 * The runner for a device and thread count, shared by every local-sd node that asks for the
 * same (so they queue behind one another and share the loaded model). Call `release` on close.
 */
export function acquireRunner(options: RunnerOptions): { runner: LocalRunner; release: () => void } {
  const parsed = runnerOptionsSchema.parse(options);
  const key = `${parsed.device}:${parsed.deviceId}:${parsed.threads}`;
  let entry = runners.get(key);
  if (!entry) {
    entry = { runner: new LocalRunner(parsed), users: 0 };
    runners.set(key, entry);
  }
  const held = entry;
  clearTimeout(held.idleTimer);
  held.users++;
  let released = false;
  return {
    runner: held.runner,
    release: () => {
      if (released) return;
      released = true;
      if (--held.users > 0) return;
      held.idleTimer = setTimeout(() => {
        runners.delete(key);
        held.runner.stop();
      }, IDLE_STOP_MS);
      held.idleTimer.unref();
    },
  };
}

/** Every runner, for the admin status endpoint. */
export function activeRunners(): LocalRunner[] {
  return [...runners.values()].map((entry) => entry.runner);
}

/** Stops every runner process (Node-RED shutdown, tests). */
export function stopAllRunners(): void {
  for (const [key, entry] of runners) {
    clearTimeout(entry.idleTimer);
    entry.runner.stop();
    runners.delete(key);
  }
}
