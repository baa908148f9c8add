import { InvalidRequestError } from '../contract';
import type { GeneratedImage } from '../contract';
import { ProviderError } from '../http';
import type { HttpClient } from '../http';
import { detectImageType, imageSize } from './image-type';

/** Provider images are at most a few MB; anything much larger is not an image we asked for. */
const MAX_IMAGE_BYTES = 50 * 1024 * 1024;
/** What one message's downloads may hold in memory together (8 images of 40 MB would be 320 MB). */
export const MAX_MESSAGE_IMAGE_BYTES = 128 * 1024 * 1024;
/** How long one message's downloads may take together: a body dripped a byte at a time must not hold a message forever. */
export const DOWNLOAD_DEADLINE_MS = 5 * 60_000;

/** `signal`, also aborted after `ms`; `expired` tells a deadline from the caller's own abort. */
export function withDeadline(signal: AbortSignal | undefined, ms: number): { signal: AbortSignal; expired: () => boolean } {
  const deadline = AbortSignal.timeout(ms);
  return { signal: signal ? AbortSignal.any([signal, deadline]) : deadline, expired: () => deadline.aborted && !signal?.aborted };
}

/**
 * Fetches each image's bytes (provider URLs expire: PixelDojo 24 h, PiAPI 3 days) into `data`,
 * checking by magic bytes that it really is an image; all of them within one deadline and one size cap.
 */
export async function downloadImages(
  client: HttpClient,
  images: GeneratedImage[],
  signal?: AbortSignal,
  jobId?: string,
  limits: { deadlineMs?: number; maxMessageBytes?: number } = {},
): Promise<GeneratedImage[]> {
  const deadlineMs = limits.deadlineMs ?? DOWNLOAD_DEADLINE_MS;
  const deadline = withDeadline(signal, deadlineMs);
  const toFetch = images.filter((image) => !image.data && image.url).length;
  const maxBodyBytes = Math.min(MAX_IMAGE_BYTES, Math.floor((limits.maxMessageBytes ?? MAX_MESSAGE_IMAGE_BYTES) / Math.max(1, toFetch)));
  return Promise.all(
    images.map(async (image) => {
      if (image.data || !image.url) return image;
      const url = image.url;
      if (!/^https?:\/\/[^/]/i.test(url)) {
        throw new InvalidRequestError(`only http:// and https:// image URLs are downloaded, not "${url.slice(0, 80)}"`);
      }
      const response = await client
        .send({ method: 'GET', path: url, intent: 'read', authenticate: false, rateLimited: false, maxBodyBytes, signal: deadline.signal, jobId })
        .catch((error: unknown) => {
          // A redirect could lead anywhere, a private address included: it is reported, never followed.
          if (error instanceof ProviderError && error.status !== undefined && error.status >= 300 && error.status < 400) {
            throw client.error(
              `${url} redirects (HTTP ${error.status}); image downloads follow no redirect`,
              { jobId },
              { kind: 'http', status: error.status, retryable: false },
            );
          }
          if (!deadline.expired()) throw error;
          throw client.error(
            `the images were not downloaded within ${deadlineMs / 1000} s: ${url} came too slowly`,
            { jobId },
            { kind: 'timeout', retryable: false },
          );
        });
      const mimeType = detectImageType(response.body);
      if (!mimeType) {
        throw client.error(
          `${image.url} did not return a PNG, JPEG or WebP image (${response.headers['content-type'] ?? 'no content type'})`,
          { jobId },
          {
            kind: 'malformed',
            retryable: false,
          },
        );
      }
      return { ...image, data: response.body, mimeType, ...imageSize(response.body) };
    }),
  );
}
