import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { statusReporter } from './status';
import type { StatusReporter } from './status';

export type Message = NodeMessage & Record<string, unknown>;

export interface InputContext {
  /** Aborted when the node closes (redeploy, shutdown): stop and send nothing. */
  signal: AbortSignal;
  status: StatusReporter;
}

/** Errors reach Catch nodes, logs and the debug sidebar: past this length, what a message carried is cut. */
const MAX_ERROR_LENGTH = 400;

/** The error with its message cut to MAX_ERROR_LENGTH (a 1 MB msg.model must not come back whole). */
function briefly(error: Error): Error {
  if (error.message.length > MAX_ERROR_LENGTH) error.message = `${error.message.slice(0, MAX_ERROR_LENGTH)}… (${error.message.length} characters)`;
  return error;
}

/** The most a close handler waits for in-flight work to notice its abort (Node-RED allows 15 s). */
const CLOSE_WAIT_MS = 5_000;

export type Handler = (msg: Message, context: InputContext) => Promise<Message | null>;

export interface Inputs {
  /** Runs work that no input started (a job resumed from the journal) under the same rules as an input. */
  background(msg: Message, work: Handler): void;
}

/**
 * The one error funnel for the pack's nodes: runs `handle` per message with an AbortSignal, sends
 * what it returns, and ends every message with done() or done(err) so Catch nodes see failures.
 * On close every in-flight message is aborted and nothing is sent afterwards.
 */
export function handleInputs(RED: NodeAPI, node: Node, handle: Handler): Inputs {
  const status = statusReporter(RED, node);
  const inFlight = new Map<AbortController, Promise<void>>();

  const run = (msg: Message, work: Handler, send: (msg: NodeMessage) => void, done: (error?: Error) => void): void => {
    const controller = new AbortController();
    // A handler that throws before its first await still ends in done(err), never an unhandled rejection.
    const settled = Promise.resolve()
      .then(() => work(msg, { signal: controller.signal, status }))
      // send() runs Node-RED's own code on the message: a message it cannot route fails like any other.
      .then((out) => {
        if (!controller.signal.aborted && out) send(out);
      })
      .then(
        () => done(),
        (error: unknown) => {
          if (controller.signal.aborted) return done();
          status.failed(error);
          done(briefly(error instanceof Error ? error : new Error(String(error))));
        },
      )
      // done() runs Node-RED's code too (Catch nodes clone the message): it must not become an unhandled rejection.
      .catch((error: unknown) => node.warn(`a message could not be finished: ${briefly(error instanceof Error ? error : new Error(String(error))).message}`));
    inFlight.set(
      controller,
      settled.finally(() => inFlight.delete(controller)),
    );
  };

  node.on('input', (msg: NodeMessage, send: (msg: NodeMessage) => void, done: (error?: Error) => void) => run(msg as Message, handle, send, done));

  node.on('close', (_removed: boolean, done: () => void) => {
    for (const controller of inFlight.keys()) controller.abort(new Error('the node was closed'));
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)));
    void Promise.race([Promise.allSettled([...inFlight.values()]), limit]).then(() => {
      clearTimeout(timer);
      status.clear();
      done();
    });
  });

  return {
    background(msg, work) {
      run(
        msg,
        work,
        (out) => node.send(out),
        (error) => error && node.error(error, msg),
      );
    },
  };
}
