import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadInputError } from '../../src/errors.js';
import { SemanticVocabulary } from '../../src/semid/vocabulary.js';
import { prepareTokenizer, TokenizerSettingsSchema } from '../../src/llm/tokenizerSetup.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/tokenizer/', import.meta.url));
const corpus = JSON.parse(readFileSync(join(FIXTURES, 'prune_corpus.json'), 'utf8')) as string[];

test('from scratch: Qwen3 tokenizer, used code tokens, pruned; code ids agree between the plan, keptOldIds and encoding', async () => {
  const vocab = new SemanticVocabulary([64, 64, 64, 64], false);
  // Thirteen items: [1,2,3,4], [5,6,7,8], ..., [45,46,47,48] (the corpus's codes), then [0,0,0,0].
  const itemCodes = Int32Array.from([...Array.from({ length: 48 }, (_, i) => i + 1), 0, 0, 0, 0]);
  const settings = TokenizerSettingsSchema.parse({ source: 'qwen3', codeTokens: 'used', prune: true });
  const prepared = await prepareTokenizer({ settings, vocab, itemCodes, corpus });
  const { tokenizer, rows, keptOldIds, codeTokenIds } = prepared;
  assert.ok(keptOldIds !== null);
  assert.equal(prepared.vocabSize, tokenizer.size);
  assert.equal(keptOldIds.length, tokenizer.size);
  const item = vocab.itemTokens([5, 6, 7, 8]);
  const ids = Array.from(tokenizer.encode(item));
  assert.deepEqual(ids, [codeTokenIds[0]![5], codeTokenIds[1]![6], codeTokenIds[2]![7], codeTokenIds[3]![8]]);
  assert.ok(ids.every((id) => id >= 0));
  assert.equal(codeTokenIds.flat().filter((id) => id >= 0).length, 4 * 13, 'only the used codes');
  // Final code ids are the renumbered rows of the pre-pruning plan, which the model re-initialises.
  const reinit = new Set(rows.reinitRows);
  codeTokenIds.forEach((level, l) =>
    level.forEach((id, code) => {
      const old = rows.codeTokenIds[l]![code]!;
      assert.equal(id === -1, old === -1);
      if (id !== -1) {
        assert.equal(keptOldIds[id], old);
        assert.ok(reinit.has(old));
      }
    }),
  );
  assert.equal(codeTokenIds[1]![5], -1, 'unused code not added');
  for (const text of corpus) assert.equal(tokenizer.decode(tokenizer.encode(text)), text);
});

test("a model's own directory that already carries our code tokens is reused as it is; pruning it again is refused", async () => {
  const vocab = new SemanticVocabulary([64, 64, 64, 64], false);
  const modelDir = join(FIXTURES, 'pruned');
  const prepared = await prepareTokenizer({ settings: TokenizerSettingsSchema.parse({}), modelDir, vocab, configVocabSize: 900 });
  assert.equal(prepared.keptOldIds, null);
  assert.equal(prepared.vocabSize, 900, 'config vocab_size above the tokenizer size is kept');
  assert.equal(prepared.tokenizer.tokenToId('<C0_0>'), prepared.codeTokenIds[0]![0]);
  await assert.rejects(
    prepareTokenizer({ settings: TokenizerSettingsSchema.parse({ prune: true }), modelDir, vocab, corpus }),
    (e: unknown) => e instanceof BadInputError && /already pruned/.test(e.message),
  );
  await assert.rejects(prepareTokenizer({ settings: TokenizerSettingsSchema.parse({}), vocab }), RangeError);
  assert.throws(() => TokenizerSettingsSchema.parse({ prune: 'yes' }));
});
