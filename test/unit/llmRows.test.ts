import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { loadQwen } from '../../src/llm/checkpoint.js';
import { applyVocabularyPlan, keepRows, reinitRows, resizeVocabulary } from '../../src/llm/embeddingRows.js';
import type { QwenModel } from '../../src/llm/model.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/llm/', import.meta.url));

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
});

function rows(model: QwenModel, name: string): number[][] {
  return model.weights.get(name)!.arraySync() as number[][];
}

function logits(model: QwenModel, ids: number[]): number[][] {
  return tf.tidy(() => model.headLogits(model.hidden(Int32Array.from(ids), 1, ids.length)).arraySync() as number[][]);
}

test('resizeVocabulary keeps the old rows, draws new ones N(0, 0.02) per row, and keeps vocab_size consistent', async () => {
  const model = await loadQwen(join(FIXTURES, 'qwen2-tiny'));
  const before = rows(model, 'lm_head.weight');
  const ids = [3, 100, 7];
  const old = logits(model, ids);
  resizeVocabulary(model, 340, { kind: 'normal', seed: 9 });
  assert.equal(model.vocabSize, 340);
  assert.equal(model.config.vocab_size, 340);
  const embed = rows(model, 'model.embed_tokens.weight');
  const head = rows(model, 'lm_head.weight');
  assert.equal(embed.length, 340);
  assert.deepEqual(head.slice(0, 300), before);
  const fresh = head.slice(300).flat();
  const mean = fresh.reduce((a, b) => a + b, 0) / fresh.length;
  const std = Math.sqrt(fresh.reduce((a, b) => a + (b - mean) ** 2, 0) / fresh.length);
  assert.ok(Math.abs(mean) < 0.003 && Math.abs(std - 0.02) < 0.002, `mean ${mean}, std ${std}`);
  assert.notDeepEqual(embed[300], head[300], 'embedding and head rows come from different streams');
  // Old tokens' logits over the old vocabulary are unchanged.
  logits(model, ids).forEach((row, r) => row.slice(0, 300).forEach((v, c) => assert.ok(Math.abs(v - old[r]![c]!) < 1e-5)));
  // Same seed, same rows; a row's values do not depend on how many rows are added.
  const again = await loadQwen(join(FIXTURES, 'qwen2-tiny'));
  resizeVocabulary(again, 302, { kind: 'normal', seed: 9 });
  assert.deepEqual(rows(again, 'lm_head.weight').slice(300), head.slice(300, 302));
  resizeVocabulary(again, 250, { kind: 'mean' });
  assert.deepEqual(rows(again, 'lm_head.weight'), before.slice(0, 250));
  model.dispose();
  again.dispose();
});

test('reinitRows re-initialises exactly the given rows; mean = average of the rows kept', async () => {
  const model = await loadQwen(join(FIXTURES, 'qwen3-tiny')); // tied: one table
  const before = rows(model, 'model.embed_tokens.weight');
  reinitRows(model, Int32Array.of(4, 290, 4), { kind: 'mean' });
  const after = rows(model, 'model.embed_tokens.weight');
  const keptRows = before.filter((_, r) => r !== 4 && r !== 290);
  const mean = before[0]!.map((_, j) => keptRows.reduce((a, row) => a + row[j]!, 0) / keptRows.length);
  for (const r of [4, 290]) after[r]!.forEach((v, j) => assert.ok(Math.abs(v - mean[j]!) < 1e-6));
  after.forEach((row, r) => {
    if (r !== 4 && r !== 290) assert.deepEqual(row, before[r]);
  });
  assert.equal(model.weights.has('lm_head.weight'), false);
  assert.throws(() => reinitRows(model, Int32Array.of(300), { kind: 'mean' }), /row 300 is outside the vocabulary/);
  model.dispose();
});

test('keepRows prunes the vocabulary: remapped ids give the same hidden states and logits of the kept tokens', async () => {
  const model = await loadQwen(join(FIXTURES, 'qwen2-tiny'));
  const ids = [12, 250, 40, 12, 7];
  const full = logits(model, ids);
  const kept = Int32Array.of(250, 7, 12, 40, 299, 0);
  keepRows(model, kept);
  assert.equal(model.vocabSize, 6);
  const remapped = ids.map((id) => kept.indexOf(id));
  const pruned = logits(model, remapped);
  pruned.forEach((row, r) => row.forEach((v, c) => assert.ok(Math.abs(v - full[r]![kept[c]!]!) < 1e-5, `row ${r} column ${c}`)));
  assert.throws(() => keepRows(model, Int32Array.of(1, 1)), /row 1 is listed twice/);
  model.dispose();
});

test('applyVocabularyPlan grows the tables and re-initialises every planned row, padding rows included', async () => {
  const model = await loadQwen(join(FIXTURES, 'qwen2-tiny'));
  const before = rows(model, 'model.embed_tokens.weight');
  // As for Qwen: ids 290..309 are code tokens, 290..299 landed on rows the config already had.
  const plan = { vocabSize: 310, reinitRows: Int32Array.from({ length: 20 }, (_, i) => 290 + i) };
  applyVocabularyPlan(model, plan, { kind: 'normal', seed: 3 });
  const after = rows(model, 'model.embed_tokens.weight');
  assert.equal(after.length, 310);
  assert.deepEqual(after.slice(0, 290), before.slice(0, 290));
  for (let r = 290; r < 300; r++) assert.notDeepEqual(after[r], before[r], `row ${r} re-initialised`);
  model.dispose();
});
