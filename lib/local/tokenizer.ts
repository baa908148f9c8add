import { Tokenizer } from '@huggingface/tokenizers';
import { z } from 'zod';

/** CLIP's text encoders read exactly 77 tokens: start, up to 75 of the prompt, end, padding. */
export const CLIP_CONTEXT_LENGTH = 77;

/** CLIP's word splitter, as Hugging Face's CLIPTokenizerFast declares it in tokenizer.json. */
const CLIP_SPLIT = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

const specialToken = z.union([z.string(), z.object({ content: z.string() }).transform((token) => token.content)]);

export const specialTokensSchema = z.object({
  bos_token: specialToken.default('<|startoftext|>'),
  eos_token: specialToken.default('<|endoftext|>'),
  unk_token: specialToken.default('<|endoftext|>'),
  /** SD 1.x pads with the end token; SD 2.x exports pad with "!". */
  pad_token: specialToken.optional(),
});
export type SpecialTokens = z.output<typeof specialTokensSchema>;

export const vocabularySchema = z.record(z.string(), z.number().int().nonnegative());

/** The tokenizer files of a model export, already read and checked. */
export interface ClipTokenizerFiles {
  /** tokenizer.json, when the export has one; otherwise it is built from vocab and merges. */
  definition?: object;
  vocab: Record<string, number>;
  /** merges.txt lines after its `#version` header, each "left right". */
  merges: string[];
  special: SpecialTokens;
}

/** The tokenizer.json that Hugging Face's converter writes for CLIP, from vocab.json and merges.txt. */
export function clipTokenizerDefinition(vocab: Record<string, number>, merges: string[], special: SpecialTokens): object {
  // The pad token is special too, as in transformers' CLIPTokenizer: SD 2.x's "!" is split out of
  // "hello!" as the pad token (id 0), not read as the end of a word.
  const added = [...new Set([special.bos_token, special.eos_token, ...(special.pad_token ? [special.pad_token] : [])])].map((content) => ({
    id: vocab[content],
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: true,
    special: true,
  }));
  return {
    version: '1.0',
    added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: special.unk_token,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

export class ClipTokenizer {
  private readonly tokenizer: Tokenizer;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;

  constructor(files: ClipTokenizerFiles) {
    const idOf = (token: string, role: string): number => {
      const id = files.vocab[token];
      if (id === undefined) throw new Error(`the tokenizer's ${role} token "${token}" is not in vocab.json`);
      return id;
    };
    this.bosId = idOf(files.special.bos_token, 'start');
    this.eosId = idOf(files.special.eos_token, 'end');
    this.padId = idOf(files.special.pad_token ?? files.special.eos_token, 'padding');
    this.tokenizer = new Tokenizer(files.definition ?? clipTokenizerDefinition(files.vocab, files.merges, files.special), {});
  }

  /** The prompt's own token ids, without start and end tokens. */
  tokenIds(text: string): number[] {
    return this.tokenizer.encode(basicClean(text), { add_special_tokens: false }).ids;
  }

  /** The 77 ids the text encoder reads; a prompt past 75 tokens is cut, as CLIP's training did. */
  encode(text: string): { ids: Int32Array; truncated: number } {
    const tokens = this.tokenIds(text);
    const kept = tokens.slice(0, CLIP_CONTEXT_LENGTH - 2);
    const ids = new Int32Array(CLIP_CONTEXT_LENGTH).fill(this.padId);
    ids[0] = this.bosId;
    ids.set(kept, 1);
    ids[kept.length + 1] = this.eosId;
    return { ids, truncated: tokens.length - kept.length };
  }
}

/** CJK ideographs, which BERT's BasicTokenizer (and so CLIPTokenizer without ftfy) makes words of their own. */
const CJK = /([\u4E00-\u9FFF\u3400-\u4DBF\uF900-\uFAFF\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\u{2F800}-\u{2FA1F}])/gu;
/** NUL, U+FFFD and control or format characters (zero-width ones included), which it drops; tab and newlines are spaces. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what transformers' cleaning drops
const DROPPED = /\u0000|\uFFFD|(?![\t\n\r])\p{C}/gu;

/**
 * The clean-up transformers' CLIPTokenizer does before BPE (diffusers' pipelines use it without ftfy):
 * BasicTokenizer drops control and format characters and puts each CJK ideograph in a word of its
 * own. Whitespace, NFC and lower case follow in the tokenizer's normalizer.
 */
export function basicClean(text: string): string {
  return text.replace(DROPPED, '').replace(CJK, ' $1 ');
}
