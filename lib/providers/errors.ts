import type { ZodType } from 'zod';
import type { DecodedError } from '../http';

/** Parses an error body with a provider's schema; undefined when it is not that shape. */
export function decodeWith<T>(schema: ZodType<T>, body: string, pick: (value: T) => DecodedError | undefined): DecodedError | undefined {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(data);
  return parsed.success ? pick(parsed.data) : undefined;
}
