/**
 * The embed stage with the `hf` encoder: a saved Qwen model directory (weights + tokenizer)
 * turns items.parquet into item embeddings equal to pooling the model's hidden states by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as arrow from 'apache-arrow';
import { DEFAULT_EMBED_SETTINGS, embedItems } from '../../src/embed/embedItems.js';
import { encodeItems } from '../../src/embed/hfEncoder.js';
import { EMBEDDINGS_FILE, readItemEmbeddings } from '../../src/embed/writeEmbeddings.js';
import { loadQwen, saveQwen } from '../../src/llm/checkpoint.js';
import { randomQwen, scratchConfig } from '../../src/llm/random.js';
import { HfTokenizer } from '../../src/llm/tokenizer.js';
import { readTokenizerDir, writeTokenizerFiles } from '../../src/llm/tokenizerFiles.js';
import { BadInputError } from '../../src/errors.js';
import { writeParquet } from '../../src/tables/parquet.js';
import { initTensorEngine } from '../../src/tensor/init.js';

const TOKENIZER = fileURLToPath(new URL('../fixtures/tokenizer/pruned/', import.meta.url));

test('embedItems with the hf encoder: mean-pooled Qwen hidden states per field, averaged', async () => {
  await initTensorEngine();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lcrec-embed-hf-'));
  try {
    const tokenizerFiles = await readTokenizerDir(TOKENIZER);
    const tokenizer = await HfTokenizer.fromDir(TOKENIZER);
    const model = randomQwen(scratchConfig({ hiddenSize: 32, intermediateSize: 64, layers: 1, heads: 2, kvHeads: 1 }, tokenizer.size, { eos: tokenizer.eosId, pad: tokenizer.padId }), 5);
    const modelDir = path.join(dir, 'model');
    await saveQwen(model, modelDir, { addFiles: (d) => writeTokenizerFiles(d, tokenizerFiles) });
    model.dispose();

    const utf8 = (v: (string | null)[]) => arrow.vectorFromArray(v, new arrow.Utf8());
    const titles = ['Red nail polish', 'Coconut body oil', 'Argan oil'];
    const descriptions = ['A glossy red.', '', 'Cold pressed.'];
    const itemsPath = path.join(dir, 'items.parquet');
    await writeParquet(itemsPath, new arrow.Table({
      item_id: arrow.makeVector(Int32Array.from([0, 1, 2])),
      source_id: utf8(['10', '11', '12']),
      asin: utf8(['A0', 'A1', 'A2']),
      title: utf8(titles),
      description: utf8(descriptions),
      brand: utf8(['', '', '']),
      categories: utf8(['Nails', 'Body', 'Body']),
      price: arrow.vectorFromArray([1, 2, 3], new arrow.Float64()),
    }));
    const hf = { ...DEFAULT_EMBED_SETTINGS.hf, modelDir, chunkSize: 2 };
    const summary = await embedItems({ itemsPath, outDir: path.join(dir, 'out'), seed: 1, settings: { ...DEFAULT_EMBED_SETTINGS, encoder: 'hf', hf } });
    assert.deepEqual([summary.encoder, summary.items, summary.dim, summary.chunks], ['hf', 3, 32, 2]);
    const written = await readItemEmbeddings(path.join(dir, 'out', EMBEDDINGS_FILE), { count: 3, dim: 32 });

    const loaded = await loadQwen(modelDir);
    try {
      const expected = encodeItems(loaded, titles.map((t, i) => [t, descriptions[i]!]), { ...hf, tokenize: (text) => tokenizer.encode(text) });
      for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(written.embeddings[i]! - expected[i]!) < 1e-6, `value ${i}`);
    } finally {
      loaded.dispose();
    }

    await assert.rejects(
      embedItems({ itemsPath, outDir: path.join(dir, 'x'), seed: 1, settings: { ...DEFAULT_EMBED_SETTINGS, encoder: 'hf' } }),
      (e: unknown) => e instanceof BadInputError && /embed\.hf\.modelDir/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
