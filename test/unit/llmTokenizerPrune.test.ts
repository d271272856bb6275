import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadInputError } from '../../src/errors.js';
import { SemanticVocabulary } from '../../src/semid/vocabulary.js';
import { Rng } from '../../src/tensor/rng.js';
import { HfTokenizer } from '../../src/llm/tokenizer.js';
import { modelVocab, qwen3TokenizerDir, readTokenizerDir } from '../../src/llm/tokenizerFiles.js';
import type { TokenizerFiles } from '../../src/llm/tokenizerFiles.js';
import { addCodeTokens, codeTokensFor, planVocabulary } from '../../src/llm/vocabCodes.js';
import { byteAlphabet, prunedId, pruneVocabulary } from '../../src/llm/vocabPrune.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/tokenizer/', import.meta.url));
interface Case {
  name: string;
  text: string;
  pruned: number[];
  prunedDecoded: string;
}
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as {
  pruned: { codebookSizes: number[]; size: number; firstCodeId: number; eos: number; pad: number };
  cases: Case[];
};
const corpus = JSON.parse(readFileSync(join(FIXTURES, 'prune_corpus.json'), 'utf8')) as string[];

const qwen3 = await readTokenizerDir(qwen3TokenizerDir());
const vocab = new SemanticVocabulary(expected.pruned.codebookSizes, false);
const full = addCodeTokens(qwen3, codeTokensFor(vocab, 'all'));
const fullTokenizer = new HfTokenizer(full);
const result = pruneVocabulary(full, corpus);
const pruned = new HfTokenizer(result.files);
const committed = await readTokenizerDir(join(FIXTURES, 'pruned'));

test('pruning is deterministic: it rebuilds the committed directory that Python loaded', () => {
  assert.deepEqual(result.files.tokenizer, committed.tokenizer);
  assert.deepEqual(result.files.config, committed.config);
  assert.deepEqual(result.files.record, committed.record);
  assert.equal(result.keptOldIds.length, expected.pruned.size);
});

test('the pruned tokenizer gives the ids of HF AutoTokenizer on our saved directory, tricky strings included', () => {
  const fromDisk = new HfTokenizer(committed);
  assert.equal(fromDisk.size, expected.pruned.size);
  assert.equal(fromDisk.eosId, expected.pruned.eos);
  assert.equal(fromDisk.padId, expected.pruned.pad);
  assert.equal(fromDisk.tokenToId('<C0_0>'), expected.pruned.firstCodeId);
  for (const c of expected.cases) {
    const ids = fromDisk.encode(c.text);
    assert.deepEqual(Array.from(ids), c.pruned, c.name);
    if (ids.length > 0) assert.equal(fromDisk.decode(ids), c.prunedDecoded, `${c.name}: decode`);
  }
});

test('the corpus keeps its exact tokens, renumbered through keptOldIds', () => {
  const { keptOldIds, newIdOf } = result;
  for (let id = 0; id < keptOldIds.length; id++) assert.equal(newIdOf[keptOldIds[id]!], id);
  for (let old = 0; old < newIdOf.length; old += 97) assert.equal(prunedId(keptOldIds, old), newIdOf[old]! >= 0 ? newIdOf[old] : undefined);
  assert.equal(prunedId(keptOldIds, fullTokenizer.eosId), pruned.eosId, 'config.json eos_token_id, renumbered');
  for (let k = 1; k < keptOldIds.length; k++) assert.ok(keptOldIds[k]! > keptOldIds[k - 1]!, 'old order kept');
  for (const text of corpus) {
    const before = Array.from(fullTokenizer.encode(text));
    const after = Array.from(pruned.encode(text));
    assert.deepEqual(after, before.map((id) => newIdOf[id]));
    assert.deepEqual(after.map((id) => pruned.idToToken(id)), before.map((id) => fullTokenizer.idToToken(id)));
  }
  assert.deepEqual(result.files.record.pruning?.keptOldIds, Array.from(keptOldIds));
  assert.equal(result.files.record.pruning?.sourceSize, fullTokenizer.size);
  assert.equal(result.files.record.codeTokens?.firstId, expected.pruned.firstCodeId, 'code-token record renumbered');
});

test('any text still encodes after pruning: random unicode round-trips, no id is unknown', () => {
  const rng = new Rng(7);
  const ranges: [number, number][] = [[0x20, 0x7e], [0x09, 0x0d], [0xa0, 0x24f], [0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0x1f300, 0x1faff], [0x0300, 0x036f]];
  for (let n = 0; n < 200; n++) {
    let text = '';
    const length = 1 + rng.int(40);
    for (let i = 0; i < length; i++) {
      const [lo, hi] = ranges[rng.int(ranges.length)]!;
      text += String.fromCodePoint(lo + rng.int(hi - lo + 1));
    }
    const ids = pruned.encode(text);
    assert.ok(ids.every((id) => id >= 0 && id < pruned.size));
    assert.equal(pruned.decode(ids), text.normalize('NFC'), JSON.stringify(text));
  }
});

test('the pruned tokenizer.json is consistent: contiguous ids, all 256 bytes, merges only over kept tokens', () => {
  const v = modelVocab(result.files.tokenizer, 'pruned');
  const ids = [...v.values(), ...result.files.tokenizer.added_tokens.map((t) => t.id)].sort((a, b) => a - b);
  assert.deepEqual(ids, Array.from({ length: ids.length }, (_, i) => i));
  for (const ch of byteAlphabet()) assert.ok(v.has(ch), `byte token ${JSON.stringify(ch)}`);
  for (const merge of result.files.tokenizer.model.merges ?? []) {
    const [a, b] = Array.isArray(merge) ? merge : (merge.split(' ') as [string, string]);
    assert.ok(v.has(a) && v.has(b) && v.has(a + b), `merge ${a} ${b}`);
  }
  // The model-side plan for the pruned tokenizer of a from-scratch model: vocab_size = its size.
  const plan = planVocabulary(result.files, vocab, result.keptOldIds.length);
  assert.equal(plan.vocabSize, expected.pruned.size);
  assert.equal(plan.codeTokenIds[0]![0], expected.pruned.firstCodeId);
});

test('pruning refuses a pruned tokenizer and a tokenizer that is not byte-level BPE', () => {
  assert.throws(() => pruneVocabulary(result.files, corpus), (e: unknown) => e instanceof BadInputError && /already pruned/.test(e.message));
  const notByteLevel: TokenizerFiles = { ...full, tokenizer: { ...full.tokenizer, pre_tokenizer: { type: 'Whitespace' } } };
  assert.throws(() => pruneVocabulary(notByteLevel, corpus), (e: unknown) => e instanceof BadInputError && e.location.field === 'pre_tokenizer');
});

test('pruning renumbers the special-token ids of a template post-processor (BOS-adding tokenizers)', () => {
  const bytes = byteAlphabet();
  const vocabulary: Record<string, number> = Object.fromEntries(bytes.map((ch, i) => [ch, i]));
  Object.assign(vocabulary, { ab: 256, xy: 257, abc: 258 });
  const bos = { id: '<s>', ids: [259], tokens: ['<s>'] };
  const tiny: TokenizerFiles = {
    source: 'tiny',
    tokenizer: {
      added_tokens: [{ id: 259, content: '<s>', special: true, normalized: false, lstrip: false, rstrip: false, single_word: false }],
      normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<s>': bos },
      },
      decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
      model: { type: 'BPE', vocab: vocabulary, merges: ['a b', 'x y', 'ab c'] },
    },
    config: { bos_token: '<s>', eos_token: '<s>' },
    record: { format: 'lcrec.tokenizer/1', originDigest: 'test' },
  };
  const before = new HfTokenizer(tiny);
  assert.deepEqual(Array.from(before.encode('abc')), [259, 258]);
  assert.deepEqual(Array.from(before.encode('xy', { addSpecialTokens: false })), [257]);
  const { files, keptOldIds } = pruneVocabulary(tiny, ['abc']);
  const after = new HfTokenizer(files);
  assert.equal(after.size, 256 + 3, 'bytes, ab, abc, <s>; xy dropped');
  assert.deepEqual(Array.from(keptOldIds.slice(256)), [256, 258, 259]);
  assert.deepEqual((files.tokenizer.post_processor as { special_tokens: Record<string, { ids: number[] }> }).special_tokens['<s>']!.ids, [258]);
  assert.deepEqual(Array.from(after.encode('abc')), [258, 257], 'BOS added with its new id');
  assert.equal(after.decode(after.encode('abc xy', { addSpecialTokens: false })), 'abc xy', 'xy still encodes, from bytes');
});
