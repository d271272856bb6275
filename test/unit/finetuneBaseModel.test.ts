import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { BaseModelSettingsSchema, prepareBaseModel } from '../../src/finetune/baseModel.js';
import { SemanticVocabulary } from '../../src/semid/vocabulary.js';
import { selectBackend } from '../../src/tensor/backend.js';

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
});

test('a scratch base: Qwen3 tokenizer + code tokens, pruned to the corpus; the model\'s vocabulary matches the tokenizer', async () => {
  const vocab = new SemanticVocabulary([4, 4], false);
  const settings = BaseModelSettingsSchema.parse({ kind: 'scratch', model: { hiddenSize: 16, intermediateSize: 32, layers: 1, heads: 2, kvHeads: 1 } });
  const base = await prepareBaseModel(settings, vocab, 1, () => ['Which item comes next after {history}?', 'Red lipstick, matte finish']);
  assert.equal(base.model.vocabSize, base.tokenizer.size);
  assert.ok(base.tokenizer.size < 2000, `pruned to ${base.tokenizer.size} tokens`);
  assert.equal(base.codeTokenIds.length, 8);
  const ids = base.tokenizer.encode('<C0_1><C1_2>');
  assert.deepEqual(Array.from(ids), [base.codeTokenIds[1], base.codeTokenIds[4 + 2]]);
  assert.ok(base.tokenizer.eosId < base.tokenizer.size);
  assert.deepEqual(Array.from(base.tokenizer.encode('Red lipstick')).length > 0, true);
  base.model.dispose();
});

test('a pretrained base without a path is refused naming the field', async () => {
  await assert.rejects(
    prepareBaseModel({ kind: 'pretrained', path: '', newRowInit: 'mean' }, new SemanticVocabulary([4], false), 1, () => []),
    /finetune\.base\.path/,
  );
});
