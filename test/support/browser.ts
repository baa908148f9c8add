import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

const run = promisify(execFile);

/** Debian's chromium package; playwright-core brings no browser of its own. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Makes sure Debian's chromium is installed: as root it is installed with apt-get when missing;
 * otherwise the answer says why the browser test cannot run, and the caller skips it out loud.
 */
export async function ensureChromium(): Promise<{ ready: true } | { ready: false; reason: string }> {
  if (fs.existsSync(CHROMIUM)) return { ready: true };
  if (process.getuid?.() !== 0) {
    return { ready: false, reason: `${CHROMIUM} is missing and this user cannot install it: run "apt-get install -y chromium" as root` };
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update'], { env, maxBuffer: 64 * 1024 * 1024 });
  await run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { env, maxBuffer: 64 * 1024 * 1024 });
  return fs.existsSync(CHROMIUM) ? { ready: true } : { ready: false, reason: `apt-get installed chromium, but ${CHROMIUM} is still missing` };
}

/** Headless chromium with nothing that reaches beyond this machine (its background connections would be refused). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Node-RED's own editor code: errors thrown there (its welcome tour throws some as it closes) are not the pack's. */
const CORE_EDITOR_CODE = /\/(red\/red(\.min)?\.js|vendor\/)/;

/** What a page reported that points at a defect of the pack: script errors, console errors, and failed requests to `origin`. */
export function watchPage(page: Page, origin: string): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => {
    const thrownAt = (error.stack ?? '').split('\n').find((line) => /^\s+at /.test(line)) ?? '';
    if (!CORE_EDITOR_CODE.test(thrownAt)) problems.push(`page error: ${error.stack ?? error.message}`);
  });
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const where = message.location().url;
    // The editor's palette manager asks the internet for the node catalogue; this machine has no internet.
    if (where && !where.startsWith(origin)) return;
    if (/ERR_NAME_NOT_RESOLVED|ERR_INTERNET_DISCONNECTED|catalogue\.nodered\.org/.test(message.text())) return;
    problems.push(`console error: ${message.text()} (${where})`);
  });
  page.on('response', (response) => {
    if (response.url().startsWith(origin) && response.status() >= 400) problems.push(`HTTP ${response.status()} for ${response.url()}`);
  });
  return problems;
}

/**
 * Closes what Node-RED shows a new user over the editor, whenever it shows it: the question about update
 * notifications (answered no, so nothing is sent out) and the welcome tour that follows it (Escape ends
 * it, as a user may). Call before each interaction: either can arrive late.
 */
export async function clearFirstRunOverlays(page: Page): Promise<void> {
  const noTelemetry = page.getByRole('button', { name: 'No, do not enable notifications' });
  const shade = page.locator('.red-ui-tourGuide-shade');
  for (let tries = 0; tries < 20; tries++) {
    if (await noTelemetry.isVisible()) {
      // One click only: each answer starts the welcome tour, and the dialog stays visible while it fades.
      await noTelemetry.click();
      await noTelemetry.waitFor({ state: 'hidden' });
    } else if ((await shade.count()) > 0) {
      // The tour listens for Escape once its step is drawn; until then a key press is not seen.
      await page.keyboard.press('Escape');
      await shade.waitFor({ state: 'detached', timeout: 1_000 }).catch(() => undefined);
    } else {
      return;
    }
  }
  throw new Error('the first-run dialogs would not close');
}

/** Waits for the editor's first-run questions to arrive (Node-RED asks them once its palette is loaded), and closes them. */
export async function settleFirstRun(page: Page): Promise<void> {
  await page
    .locator('.red-ui-tourGuide-popover')
    .or(page.getByRole('button', { name: 'No, do not enable notifications' }))
    .first()
    .waitFor({ timeout: 10_000 })
    .catch(() => undefined);
  await clearFirstRunOverlays(page);
}
