import { bflEmulator } from './bfl';
import { cloudflareEmulator, workersAiEmulator } from './cloudflare';
import { filesEmulator } from './files';
import { leonardoEmulator } from './leonardo';
import { piapiEmulator } from './piapi';
import { pixeldojoEmulator } from './pixeldojo';
import { SandboxServer } from './server';
import { visioncraftEmulator } from './visioncraft';
import type { SandboxOptions } from './server';

export type { FaultRule, SandboxApi, SandboxFault } from './faults';
export type { JobOutcome, JobScript } from './jobs';
export { renderJpeg, renderPng } from './images';
export { SANDBOX_ACCOUNT_ID, SANDBOX_API_KEY, SandboxServer } from './server';
export type { AccountCallback, RecordedRequest, SandboxOptions, WebhookDelivery } from './server';

/** Starts every provider emulator on one loopback port. */
export function startSandbox(options: SandboxOptions = {}): Promise<SandboxServer> {
  return new SandboxServer(
    [pixeldojoEmulator, piapiEmulator, workersAiEmulator, cloudflareEmulator, leonardoEmulator, bflEmulator, visioncraftEmulator, filesEmulator],
    options,
  ).listen();
}
