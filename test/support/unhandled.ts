/**
 * Records the unhandled rejections of the enclosing describe block (it installs mocha hooks); tests
 * drain the array to assert there were none.
 */
export function recordUnhandledRejections(): unknown[] {
  const seen: unknown[] = [];
  const record = (reason: unknown) => seen.push(reason);
  before(() => process.on('unhandledRejection', record));
  after(() => process.off('unhandledRejection', record));
  return seen;
}
