import path from 'node:path';
import { InvalidRequestError } from '../contract';

/** The values a file-name template can use. */
export interface NameTokens {
  date: Date;
  provider?: string;
  model?: string;
  jobId?: string;
  seed?: number;
  index: number;
  prompt?: string;
}

/** Organises by day, then names each file by time, provider, seed and its index in the job. */
export const DEFAULT_FILENAME_TEMPLATE = '{date}/{time}-{provider}-{seed}-{index}';

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/** Lower-case letters, digits and dashes only: safe in any file system and any URL. */
export function slug(text: string, maxLength = 48): string {
  const cleaned = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return cleaned.slice(0, maxLength).replace(/-+$/, '') || 'none';
}

const TOKENS: Record<string, (tokens: NameTokens) => string> = {
  yyyy: ({ date }) => String(date.getFullYear()),
  MM: ({ date }) => pad(date.getMonth() + 1),
  dd: ({ date }) => pad(date.getDate()),
  HH: ({ date }) => pad(date.getHours()),
  mm: ({ date }) => pad(date.getMinutes()),
  ss: ({ date }) => pad(date.getSeconds()),
  date: ({ date }) => `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`,
  time: ({ date }) => `${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`,
  timestamp: ({ date }) => String(date.getTime()),
  provider: ({ provider }) => slug(provider ?? 'unknown'),
  model: ({ model }) => slug(model ?? 'unknown'),
  jobId: ({ jobId }) => slug(jobId ?? 'nojob', 64),
  seed: ({ seed }) => (seed === undefined ? 'noseed' : String(Math.trunc(seed))),
  index: ({ index }) => String(index),
  prompt: ({ prompt }) => slug(prompt ?? ''),
};

/** `{token}` replaced by its (already safe) value; an unknown token is an error, not silently kept. */
export function expandTemplate(template: string, tokens: NameTokens): string {
  return template.replace(/\{([^{}]*)\}/g, (_whole, name: string) => {
    const value = TOKENS[name];
    if (!value)
      throw new InvalidRequestError(
        `unknown token {${name}} in the file name; use ${Object.keys(TOKENS)
          .map((token) => `{${token}}`)
          .join(' ')}`,
      );
    return value(tokens);
  });
}

const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;
// eslint-disable-next-line no-control-regex -- control characters are what a safe file name must not hold
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Checks a relative path built from a template (and perhaps a message) before it touches the disk:
 * no absolute paths, `..`, NUL or control characters, drive letters or backslashes, Windows device names.
 */
export function checkRelativePath(relative: string): string {
  const refuse = (why: string) => new InvalidRequestError(`refused file name "${relative.replace(CONTROL, '?')}": ${why}`);
  if (relative.length === 0) throw refuse('it is empty');
  if (relative.length > 240) throw refuse('it is longer than 240 characters');
  if (CONTROL.test(relative)) throw refuse('it contains NUL or control characters');
  if (relative.includes('\\') || relative.includes(':')) throw refuse('it contains a backslash or a colon');
  if (relative.startsWith('/') || path.isAbsolute(relative)) throw refuse('it is an absolute path; file names are relative to the directory');
  for (const segment of relative.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') throw refuse('it contains an empty, "." or ".." segment');
    if (WINDOWS_DEVICE.test(segment)) throw refuse(`"${segment}" is a device name`);
    if (/[. ]$/.test(segment) || /^ /.test(segment)) throw refuse('a segment starts with a space or ends with a dot or space');
  }
  return relative;
}

/** Whether `target` lies below `base` (both absolute); `/` as the base works too. */
export function isInside(base: string, target: string): boolean {
  const relative = path.relative(base, target);
  return relative !== '' && !relative.startsWith(`..${path.sep}`) && relative !== '..' && !path.isAbsolute(relative);
}

/** The absolute path of `relative` inside `baseDir`, refusing anything that would land outside it. */
export function resolveInside(baseDir: string, relative: string): string {
  const base = path.resolve(baseDir);
  const target = path.resolve(base, checkRelativePath(relative));
  if (!isInside(base, target)) throw new InvalidRequestError(`refused file name "${relative}": it leaves the directory ${base}`);
  return target;
}
