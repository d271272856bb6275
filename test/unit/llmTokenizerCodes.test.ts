import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadInputError } from '../../src/errors.js';
import { codeToken, SemanticVocabulary } from '../../src/semid/vocabulary.js';
import { HfTokenizer } from '../../src/llm/tokenizer.js';
import { LCREC_RECORD_FILE, qwen3TokenizerDir, readTokenizerDir, saveTokenizerDir } from '../../src/llm/tokenizerFiles.js';
import type { TokenizerFiles } from '../../src/llm/tokenizerFiles.js';
import { addCodeTokens, codeTokensFor, planVocabulary } from '../../src/llm/vocabCodes.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/tokenizer/', import.meta.url));
interface Case {
  name: string;
  text: string;
  extended: number[];
  extendedDecoded: string;
  extendedDecodedSkipSpecial: string;
}
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as {
  extended: { codebookSizes: number[]; size: number; firstCodeId: number; eos: number; pad: number };
  cases: Case[];
};
/** Qwen3's config.json vocab_size: the embedding is padded above the tokenizer's 151,669 ids. */
const QWEN3_VOCAB_SIZE = 151_936;

const qwen3 = await readTokenizerDir(qwen3TokenizerDir());
const vocab = new SemanticVocabulary(expected.extended.codebookSizes, false);
const extended = addCodeTokens(qwen3, codeTokensFor(vocab, 'all'));
const tokenizer = new HfTokenizer(extended);

test('with the code tokens added, ids equal those of HF AutoTokenizer (genrec-style special tokens) on tricky strings', () => {
  assert.equal(tokenizer.size, expected.extended.size);
  assert.equal(tokenizer.eosId, expected.extended.eos);
  assert.equal(tokenizer.padId, expected.extended.pad);
  for (const c of expected.cases) {
    const ids = tokenizer.encode(c.text);
    assert.deepEqual(Array.from(ids), c.extended, c.name);
    if (ids.length === 0) continue;
    assert.equal(tokenizer.decode(ids), c.extendedDecoded, `${c.name}: decode`);
    assert.equal(tokenizer.decode(ids, { skipSpecialTokens: true }), c.extendedDecodedSkipSpecial, `${c.name}: decode, specials skipped`);
  }
});

test('every code token is one special id, level-major from the first free id, and decodes back', () => {
  const first = expected.extended.firstCodeId;
  assert.equal(first, 151_669);
  vocab.tokens().forEach((token, i) => {
    assert.deepEqual(Array.from(tokenizer.encode(token)), [first + i], token);
    assert.equal(tokenizer.decode([first + i]), token);
    assert.equal(tokenizer.specialIds.has(first + i), true);
  });
  const item = vocab.itemTokens([12, 3, 200, 7]);
  const ids = tokenizer.encode(item);
  assert.deepEqual(Array.from(ids), [first + 12, first + 256 + 3, first + 512 + 200, first + 768 + 7]);
  assert.deepEqual(Array.from(vocab.parse(tokenizer.decode(ids))), [12, 3, 200, 7]);
});

test('the saved directory reloads with the same ids and its record; adding the same tokens again is a no-op', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lcrec-tok-codes-'));
  try {
    const out = join(dir, 'tokenizer');
    await saveTokenizerDir(out, extended);
    const reread = await readTokenizerDir(out);
    assert.deepEqual(reread.record.codeTokens, { tokens: vocab.tokens(), firstId: 151_669 });
    const reloaded = new HfTokenizer(reread);
    for (const c of expected.cases) assert.deepEqual(Array.from(reloaded.encode(c.text)), c.extended, c.name);
    const config = JSON.parse(await readFile(join(out, 'tokenizer_config.json'), 'utf8')) as { added_tokens_decoder: Record<string, { content: string; special: boolean }> };
    assert.deepEqual(config.added_tokens_decoder['151669'], { content: '<C0_0>', lstrip: false, normalized: false, rstrip: false, single_word: false, special: true });
    assert.equal(JSON.parse(await readFile(join(out, LCREC_RECORD_FILE), 'utf8')).format, 'lcrec.tokenizer/1');

    assert.equal(addCodeTokens(reread, vocab.tokens()), reread, 'same tokens: unchanged');
    assert.throws(() => addCodeTokens(reread, codeTokensFor(new SemanticVocabulary([8, 8], false), 'all')), (e: unknown) => e instanceof BadInputError && /earlier run/.test(e.message));
    // Saving over an existing directory replaces it whole.
    await saveTokenizerDir(out, qwen3);
    assert.equal((await readTokenizerDir(out)).record.codeTokens, undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a tokenizer that already holds <C*_*> tokens is refused, naming them', () => {
  const inVocab: TokenizerFiles = {
    ...qwen3,
    tokenizer: { ...qwen3.tokenizer, model: { ...qwen3.tokenizer.model, vocab: { ...(qwen3.tokenizer.model.vocab as Record<string, number>), '<C3_7>': 151_643 } } },
  };
  assert.throws(
    () => addCodeTokens(inVocab, vocab.tokens()),
    (e: unknown) => e instanceof BadInputError && e.message.includes('<C3_7> (id 151643)') && e.message.includes('tokenizer.json') && e.location.field === 'model.vocab',
  );
  const asAdded: TokenizerFiles = {
    ...qwen3,
    tokenizer: { ...qwen3.tokenizer, added_tokens: [...qwen3.tokenizer.added_tokens, { id: 151_669, content: '<C12_0>', single_word: false, lstrip: false, rstrip: false, special: false }] },
  };
  assert.throws(() => addCodeTokens(asAdded, ['<C0_0>']), (e: unknown) => e instanceof BadInputError && e.message.includes('<C12_0>') && e.location.field === 'added_tokens');
  assert.throws(() => addCodeTokens(qwen3, ['<a_1>']), RangeError);
  assert.throws(() => addCodeTokens(qwen3, ['<C0_1>', '<C0_1>']), RangeError);
});

test('vocabulary plan: code tokens that land on Qwen3 padding rows are re-initialised too', () => {
  // 4 x 64 tokens take ids 151669..151924: all below config vocab_size 151936, i.e. padding rows.
  const small = new SemanticVocabulary([64, 64, 64, 64], false);
  const plan = planVocabulary(addCodeTokens(qwen3, codeTokensFor(small, 'all')), small, QWEN3_VOCAB_SIZE);
  assert.equal(plan.vocabSize, QWEN3_VOCAB_SIZE, 'no resize needed');
  assert.equal(plan.tokenizerSize, 151_669 + 256);
  assert.deepEqual(Array.from(plan.reinitRows), Array.from({ length: 256 }, (_, i) => 151_669 + i));
  assert.equal(plan.codeTokenIds[2]![5], 151_669 + 128 + 5);

  // 4 x 256 tokens run past it: vocab_size grows to len(tokenizer); rows 151669.. are all reset.
  const big = planVocabulary(extended, vocab, QWEN3_VOCAB_SIZE);
  assert.equal(big.vocabSize, 152_693);
  assert.equal(big.previousVocabSize, QWEN3_VOCAB_SIZE);
  assert.deepEqual(Array.from(big.reinitRows), Array.from({ length: 1024 }, (_, i) => 151_669 + i));
  assert.deepEqual(big.codeTokenIds.map((level) => level.length), [256, 256, 256, 256]);
  assert.equal(big.codeTokenIds[3]![255], 152_692);

  assert.throws(() => planVocabulary(qwen3, vocab, QWEN3_VOCAB_SIZE), (e: unknown) => e instanceof BadInputError && /addCodeTokens/.test(e.message));
});

test("'used' adds only the codes items use, in level-major order; the plan marks the others -1", () => {
  const v = new SemanticVocabulary([4, 3], false);
  const items = Int32Array.from([2, 0, 0, 2, 2, 1]);
  const tokens = codeTokensFor(v, 'used', items);
  assert.deepEqual(tokens, [codeToken(0, 0), codeToken(0, 2), codeToken(1, 0), codeToken(1, 1), codeToken(1, 2)]);
  const plan = planVocabulary(addCodeTokens(qwen3, tokens), v, QWEN3_VOCAB_SIZE);
  assert.deepEqual(plan.codeTokenIds, [
    [151_669, -1, 151_670, -1],
    [151_671, 151_672, 151_673],
  ]);
  assert.deepEqual(Array.from(plan.reinitRows), [151_669, 151_670, 151_671, 151_672, 151_673]);
  assert.throws(() => codeTokensFor(v, 'used'), RangeError);
  assert.throws(() => codeTokensFor(v, 'used', Int32Array.from([0, 3])), RangeError);
});
