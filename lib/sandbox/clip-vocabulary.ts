/**
 * Builds vocab.json and merges.txt the way OpenAI's CLIP does from its BPE merge list, so the
 * sandbox's miniature tokenizers (and the tests' full one) have the real file formats and ids.
 */

const printable = (byte: number): boolean => (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);

/** Bytes in CLIP's vocabulary order: the printable ones first, then the rest. */
const BYTE_ORDER = [...Array(256).keys()].sort((a, b) => Number(printable(b)) - Number(printable(a)) || a - b);

/** GPT-2 and CLIP's reversible byte-to-character table: printable bytes stand for themselves. */
const BYTE_CHARACTERS: string[] = [];
BYTE_ORDER.forEach((byte, index) => (BYTE_CHARACTERS[byte] = String.fromCodePoint(printable(byte) ? byte : 256 + index - 188)));

/** CLIP's vocabulary order: bytes, bytes ending a word, one token per merge, start, end. */
export function clipVocabulary(merges: ReadonlyArray<string>): Record<string, number> {
  const bytes = BYTE_ORDER.map((byte) => BYTE_CHARACTERS[byte]);
  const tokens = [...bytes, ...bytes.map((b) => `${b}</w>`), ...merges.map((merge) => merge.replace(' ', '')), '<|startoftext|>', '<|endoftext|>'];
  return Object.fromEntries(tokens.map((token, id) => [token, id]));
}

/** merges.txt text: its version header, then one merge per line. */
export function mergesFile(merges: ReadonlyArray<string>): string {
  return ['#version: 0.2', ...merges].join('\n') + '\n';
}

/**
 * The merges that spell each word as one token, left to right, in first-use order: a small
 * but complete vocabulary for the words given, with every byte still reachable on its own.
 */
export function mergesForWords(words: ReadonlyArray<string>): string[] {
  const merges = new Set<string>();
  for (const word of words) {
    const symbols = [...Buffer.from(word, 'utf8')].map((byte) => BYTE_CHARACTERS[byte]);
    symbols[symbols.length - 1] += '</w>';
    symbols.reduce((left, right) => {
      merges.add(`${left} ${right}`);
      return left + right;
    });
  }
  return [...merges];
}
