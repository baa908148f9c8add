import { sendBytes, sendJson } from './server';
import type { SandboxMounts, SandboxState } from './server';

/** Serves the images the emulators link to, rendering them on demand from their file name. */
export function filesEmulator(sandbox: SandboxState): SandboxMounts {
  return {
    prefix: '/files',
    api: 'files',
    routes: [
      {
        method: 'GET',
        pattern: /^\/([A-Za-z0-9_]+)-(\d+)-(\d+)x(\d+)\.(png|jpg)$/,
        handle({ res, params }) {
          const [tag, seed, width, height, format] = params;
          const size = { width: Number(width), height: Number(height) };
          if (size.width < 1 || size.height < 1 || size.width * size.height > 4_194_304) {
            return sendJson(res, 404, { error: 'no such file' });
          }
          const bytes = sandbox.image({ seed: Number(seed), ...size, format: format as 'png' | 'jpg', tag });
          sendBytes(res, 200, bytes, format === 'png' ? 'image/png' : 'image/jpeg');
        },
      },
    ],
  };
}
