import type { NodeAPI } from 'node-red';
import { adminRoute } from '../../nodes/shared/admin';
import { overviewOf } from '../../nodes/shared/overview';

interface PluginApi {
  plugins: { registerPlugin(id: string, definition: Record<string, unknown>): void };
}

/**
 * The image-gen sidebar tab (its editor half is image-gen-sidebar.html): pending jobs, today's spending
 * per provider config, the latest saved images. It reads them from one guarded admin endpoint and
 * refreshes when the runtime says they changed (comms topic image-gen/overview).
 */
export = function register(RED: NodeAPI): void {
  (RED as unknown as PluginApi).plugins.registerPlugin('image-gen-sidebar', { type: 'image-gen-sidebar' });
  adminRoute(RED, 'get', '/image-gen/overview', 'image-gen.read', () => overviewOf(RED));
};
