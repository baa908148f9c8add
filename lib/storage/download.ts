import type { GeneratedImage } from '../contract';
import type { HttpClient } from '../http';
import { detectImageType, imageSize } from './image-type';

/** Provider images are at most a few MB; anything much larger is not an image we asked for. */
const MAX_IMAGE_BYTES = 50 * 1024 * 1024;

/**
 * Fetches each image's bytes (provider URLs expire: PixelDojo 24 h, PiAPI 3 days) into `data`,
 * checking by magic bytes that it really is an image.
 */
export async function downloadImages(client: HttpClient, images: GeneratedImage[], signal?: AbortSignal, jobId?: string): Promise<GeneratedImage[]> {
  return Promise.all(
    images.map(async (image) => {
      if (image.data || !image.url) return image;
      const response = await client.send({ method: 'GET', path: image.url, intent: 'read', authenticate: false, rateLimited: false, maxBodyBytes: MAX_IMAGE_BYTES, signal, jobId });
      const mimeType = detectImageType(response.body);
      if (!mimeType) {
        throw client.error(`${image.url} did not return a PNG, JPEG or WebP image (${response.headers['content-type'] ?? 'no content type'})`, { jobId }, {
          kind: 'malformed',
          retryable: false,
        });
      }
      return { ...image, data: response.body, mimeType, ...imageSize(response.body) };
    }),
  );
}
