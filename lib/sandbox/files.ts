import type { ServerResponse } from 'node:http';
import { sendBytes, sendJson } from './server';
import type { SandboxMounts, SandboxState } from './server';

const CHUNK = Buffer.alloc(64 * 1024);
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** A largest body the sandbox will stream, to keep a mistyped test from filling a disk. */
const MAX_STREAMED_BYTES = 2 * 1024 ** 3;

/** A PNG signature and IHDR, then `total` bytes in all: enough to pass a magic-byte check. */
function pngHead(): Buffer {
  const ihdr = Buffer.alloc(25);
  ihdr.writeUInt32BE(13, 0);
  ihdr.write('IHDR', 4, 'latin1');
  ihdr.writeUInt32BE(8192, 8);
  ihdr.writeUInt32BE(8192, 12);
  ihdr.set([8, 2, 0, 0, 0], 16);
  return Buffer.concat([PNG_SIGNATURE, ihdr]);
}

/** Streams `total` bytes without holding them, optionally cutting the connection after `dropAfter`. */
function streamBody(res: ServerResponse, total: number, dropAfter?: number): void {
  res.writeHead(200, { 'content-type': 'image/png', 'content-length': total });
  const head = pngHead();
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      if (dropAfter !== undefined && sent >= dropAfter) {
        res.socket?.destroy();
        return;
      }
      const piece = sent === 0 ? head : CHUNK.subarray(0, Math.min(CHUNK.length, total - sent));
      sent += piece.length;
      if (!res.write(piece)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

/** Serves the images the emulators link to, rendered on demand from their names, plus test bodies. */
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
      {
        // `/files/large-<bytes>.png`: a PNG-headed body of that size, streamed (memory and throughput tests).
        method: 'GET',
        pattern: /^\/large-(\d+)\.png$/,
        handle({ res, params }) {
          streamBody(res, Math.min(Number(params[0]), MAX_STREAMED_BYTES));
        },
      },
      {
        // `/files/dropped-<bytes>.png`: announces that size, then cuts the connection halfway.
        method: 'GET',
        pattern: /^\/dropped-(\d+)\.png$/,
        handle({ res, params }) {
          const total = Math.min(Number(params[0]), MAX_STREAMED_BYTES);
          streamBody(res, total, Math.floor(total / 2));
        },
      },
      {
        // `/files/drip-<ms>.png`: a PNG head, then one byte every <ms> for as long as the client listens.
        method: 'GET',
        pattern: /^\/drip-(\d+)\.png$/,
        handle({ res, params }) {
          res.writeHead(200, { 'content-type': 'image/png' });
          res.write(pngHead());
          const timer = setInterval(() => res.write(CHUNK.subarray(0, 1)), Math.max(1, Number(params[0])));
          res.on('close', () => clearInterval(timer));
        },
      },
      {
        method: 'GET',
        pattern: /^\/page\.html$/,
        handle({ res }) {
          sendBytes(res, 200, Buffer.from('<!doctype html><title>Not an image</title>'), 'text/html');
        },
      },
    ],
  };
}
