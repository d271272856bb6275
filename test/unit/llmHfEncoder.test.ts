import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { loadQwen } from '../../src/llm/checkpoint.js';
import type { QwenModel } from '../../src/llm/model.js';
import { embedItemTexts, encodeItems, encodeTokenized, HfEncoderSettingsSchema } from '../../src/embed/hfEncoder.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/llm/', import.meta.url));
let model: QwenModel;
let root: string;

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
  model = await loadQwen(join(FIXTURES, 'qwen3-tiny'));
  root = await mkdtemp(join(tmpdir(), 'lcrec-hf-encoder-'));
});
after(async () => {
  model.dispose();
  await rm(root, { recursive: true, force: true });
});

/** A stand-in tokenizer: one id per character (the real one is src/llm/tokenizer.ts). */
const tokenize = (text: string) => Int32Array.from(text, (c) => c.codePointAt(0)! % 300);

/** Hidden states of one text alone, no padding: [length][hidden]. */
function alone(ids: Int32Array): number[][] {
  return tf.tidy(() => model.hidden(ids, 1, ids.length).arraySync() as number[][]);
}

function assertRowClose(actual: Float32Array, expected: number[], what: string): void {
  expected.forEach((v, j) => assert.ok(Math.abs(actual[j]! - v) < 1e-5, `${what}[${j}]: ${actual[j]} vs ${v}`));
}

test('mean and last-token pooling of texts batched with padding equal each text encoded alone', () => {
  const texts = ['a short one', 'x', 'a considerably longer text than the others', '', 'medium length'].map(tokenize);
  const width = model.hiddenSize;
  for (const pooling of ['mean', 'last'] as const) {
    const out = encodeTokenized(model, texts, { pooling, maxLength: 30, batchTokens: 64 });
    texts.forEach((ids, i) => {
      const row = out.subarray(i * width, (i + 1) * width);
      if (ids.length === 0) return assert.ok(row.every((v) => v === 0), 'an empty text is a zero vector');
      const h = alone(ids.subarray(0, 30));
      const expected = pooling === 'last' ? h[h.length - 1]! : h[0]!.map((_, j) => h.reduce((a, r) => a + r[j]!, 0) / h.length);
      assertRowClose(row, expected, `${pooling} text ${i}`);
    });
  }
});

test('an item is the average of its non-empty fields; normalize gives unit rows', () => {
  const items = [['red lipstick', 'long lasting colour'], ['', 'only a description'], ['', '']];
  const width = model.hiddenSize;
  const opts = { pooling: 'mean' as const, maxLength: 64, batchTokens: 256, tokenize, normalize: false };
  const out = encodeItems(model, items, opts);
  const field = (t: string) => encodeTokenized(model, [tokenize(t)], opts);
  const a = field('red lipstick');
  const b = field('long lasting colour');
  assertRowClose(out.subarray(0, width), Array.from(a, (v, j) => (v + b[j]!) / 2), 'item 0');
  assertRowClose(out.subarray(width, 2 * width), Array.from(field('only a description')), 'item 1');
  assert.ok(out.subarray(2 * width).every((v) => v === 0));
  const unit = encodeItems(model, items, { ...opts, normalize: true });
  assert.ok(Math.abs(Math.hypot(...unit.subarray(0, width)) - 1) < 1e-5);
});

test('embedItemTexts resumes from its chunk files', async () => {
  const items = Array.from({ length: 7 }, (_, i) => [`item number ${i}`, i % 2 ? 'odd' : '']);
  const opts = { pooling: 'mean' as const, maxLength: 64, batchTokens: 256, tokenize, normalize: false, chunkSize: 3, fingerprint: 'test-model', workDir: join(root, 'chunks') };
  const first = await embedItemTexts(model, items, opts);
  assert.equal(first.chunks, 3);
  assert.equal(first.resumedChunks, 0);
  const again = await embedItemTexts(model, items, opts);
  assert.equal(again.resumedChunks, 3);
  assert.deepEqual(again.embeddings, first.embeddings);
  const other = await embedItemTexts(model, items, { ...opts, fingerprint: 'another-model' });
  assert.equal(other.resumedChunks, 0, 'chunks of another computation are not reused');
});

test('settings have defaults and refuse unknown fields', () => {
  const s = HfEncoderSettingsSchema.parse({ modelDir: '/models/qwen3' });
  assert.equal(s.pooling, 'mean');
  assert.deepEqual(s.fields, ['title', 'description']);
  assert.throws(() => HfEncoderSettingsSchema.parse({ modelDir: 'x', pool: 'mean' }));
});
