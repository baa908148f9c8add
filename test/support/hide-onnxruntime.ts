// Preloaded with `node --require` to run Node-RED as if onnxruntime-node were not installed:
// resolving it (from Node-RED or from the local-sd runner) fails as a missing module does.
import Module from 'node:module';

type Resolve = (request: string, ...rest: unknown[]) => string;
const loader = Module as unknown as { _resolveFilename: Resolve };
const resolve = loader._resolveFilename;
loader._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
  if (request === 'onnxruntime-node' || request.startsWith('onnxruntime-node/')) {
    throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
  }
  return resolve.call(this, request, ...rest);
};
