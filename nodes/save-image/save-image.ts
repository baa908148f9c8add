import path from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { InvalidRequestError, describeIssues } from '../../lib/contract';
import { HttpClient } from '../../lib/http';
import { galleryQuerySchema, listGallery } from '../../lib/storage/gallery';
import { saveImageSettingsSchema, saveMessageImages, saveTargetOf } from '../../lib/storage/message';
import { PreviewStore } from '../../lib/storage/previews';
import { thumbnailDataUrl } from '../../lib/storage/thumbnail';
import { AdminError } from '../../lib/editor/admin';
import { adminRoute } from '../shared/admin';
import { handleInputs } from '../shared/input';
import { imageSaved } from '../shared/overview';
import { editorSettingsFor, settingsOf } from '../shared/settings';

/** The pack's own comms topic (never the shared `image` topic other packs use). */
const PREVIEW_TOPIC = 'image-gen/preview';
/** Per deployed node: its directory (for the gallery endpoint). */
const directories = new Map<string, string>();

export = function register(RED: NodeAPI): void {
  // Each node's last preview, kept across editor reloads and Node-RED restarts.
  const previews = new PreviewStore(RED.settings.userDir ? path.join(RED.settings.userDir, 'image-gen-previews') : undefined);
  function SaveImage(this: Node, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    const configured = settingsOf(this, saveImageSettingsSchema, def);
    const target = configured.value && saveTargetOf(configured.value, RED.settings.userDir ?? process.cwd());
    if (target) directories.set(this.id, target.baseDir);
    const downloads = new HttpClient({ provider: 'image download', baseUrl: 'http://localhost', timeoutMs: 60_000, retry: { maxRetries: 2 } });

    handleInputs(RED, this, async (msg, { signal, status }) => {
      const { preview } = configured.read();
      const { baseDir } = target as NonNullable<typeof target>;
      if (msg.gallery !== undefined) {
        const query = galleryQuerySchema.safeParse(msg.gallery ?? {});
        if (!query.success) throw new InvalidRequestError(`msg.gallery: ${describeIssues(query.error)}`);
        msg.payload = await listGallery(baseDir, query.data);
        return msg;
      }
      const files = await saveMessageImages(target as NonNullable<typeof target>, msg, downloads, signal);
      msg.files = files;
      status.saved(files.filter((file) => !file.skipped).length);
      const last = files[files.length - 1];
      if (preview !== false && last && !last.skipped) {
        const src = await thumbnailDataUrl(last.path, last.bytes);
        if (src) {
          RED.comms.publish(`${PREVIEW_TOPIC}/${this.id}`, { id: this.id, src }, false);
          const job = msg.job as { params?: { prompt?: unknown } } | undefined;
          const seed = (msg.images as Array<{ seed?: unknown }> | undefined)?.at(-1)?.seed;
          imageSaved(RED, {
            node: this.id,
            file: last.path,
            src,
            prompt: typeof job?.params?.prompt === 'string' ? job.params.prompt : undefined,
            seed: typeof seed === 'number' ? seed : undefined,
            at: new Date().toISOString(),
          });
          await previews
            .set(this.id, src)
            .catch((error: unknown) => this.warn(`the preview could not be kept for a restart: ${error instanceof Error ? error.message : String(error)}`));
        }
      }
      return msg;
    });
    this.on('close', (removed: boolean, done: () => void) => {
      if (removed) directories.delete(this.id);
      void Promise.all([removed ? previews.remove(this.id) : undefined, downloads.close()]).then(
        () => done(),
        () => done(),
      );
    });
  }
  RED.nodes.registerType('save-image', SaveImage, { settings: editorSettingsFor('save-image', saveImageSettingsSchema) });

  adminRoute(RED, 'get', '/image-gen/save-image/:id/preview', 'save-image.read', async (req) => {
    const id = String(req.params.id);
    // No preview yet is an ordinary answer (the editor asks for every save-image node it shows), not a 404.
    return { id, src: (await previews.get(id)) ?? null };
  });

  // Lists what a deployed save-image node stored, newest first, as VisionCraft's GET /gallery does.
  adminRoute(RED, 'get', '/image-gen/save-image/:id/gallery', 'save-image.read', (req) => {
    const directory = directories.get(String(req.params.id));
    if (!directory) throw new AdminError(404, 'NOT_FOUND', 'no deployed save-image node has that id');
    const query = galleryQuerySchema.safeParse(req.query);
    if (!query.success) throw new InvalidRequestError(describeIssues(query.error));
    return listGallery(directory, query.data);
  });
};
