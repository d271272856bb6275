import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FinetuneSettingsSchema } from '../../src/finetune/settings.js';
import { runFinetuneStage } from '../../src/finetune/stage.js';
import type { FinetuneData } from '../../src/finetune/trainer.js';
import { loadQwen, saveQwen } from '../../src/llm/checkpoint.js';
import { randomQwen, scratchConfig } from '../../src/llm/random.js';
import { selectBackend } from '../../src/tensor/backend.js';

let dir: string;
before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
  dir = await mkdtemp(join(tmpdir(), 'lcrec-ft-qwen-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const VOCAB = 64;
const config = scratchConfig({ hiddenSize: 32, intermediateSize: 64, layers: 2, heads: 4, kvHeads: 2 }, VOCAB, { eos: 0, pad: 0 });
const CODES = Int32Array.from({ length: 16 }, (_, i) => 48 + i);

/** Item i (0..15) has prompt text tokens [2+i%3, 10+i, 30+i%7] and the two-token "ID" <48+i><48+(i*5)%16>. */
const data: FinetuneData = {
  units: 48,
  render: (u, epoch) => {
    const i = u % 16;
    return { promptIds: Int32Array.from([1 + ((u + epoch) % 3), 10 + i, 30 + (i % 7)]), responseIds: Int32Array.from([CODES[i]!, CODES[(i * 5) % 16]!]) };
  },
  eosId: 0,
  validation: { count: 16, render: (i) => ({ promptIds: Int32Array.from([2, 10 + i, 30 + (i % 7)]), responseIds: Int32Array.from([CODES[i]!, CODES[(i * 5) % 16]!]) }) },
};

test('the Qwen model of src/llm fine-tunes through the stage: loss falls, the kept model is saved in HF layout and loads back', async () => {
  const model = randomQwen(config, 1);
  const settings = FinetuneSettingsSchema.parse({ learningRate: 1e-2, epochs: 3, batchSize: 8, gradAccumulation: 1, warmupRatio: 0.1, maxLength: 16, validation: { lossSamples: 0, recallUsers: 0 } });
  const out = join(dir, 'full');
  const summary = await runFinetuneStage(model, data, settings, out, { seed: 2, baseModel: 'scratch', saveModel: (d) => saveQwen(model, d) });
  assert.equal(summary.mode, 'full');
  const v = summary as { validLoss: number; firstLoss: number };
  assert.ok(v.validLoss < 0.6 * v.firstLoss, `valid loss ${v.validLoss} vs first step ${v.firstLoss}`);
  const files = (await readdir(out)).sort();
  assert.ok(['config.json', 'model.safetensors', 'training_log.json'].every((f) => files.includes(f)), files.join(', '));
  const loaded = await loadQwen(out);
  for (const [name, w] of model.weights) assert.deepEqual(loaded.weights.get(name)!.dataSync(), w.dataSync(), name);
});

test('LoRA on every projection of the Qwen model, new token rows trained; adapter and merged model written', async () => {
  const model = randomQwen(config, 1);
  const settings = FinetuneSettingsSchema.parse({
    learningRate: 1e-2, epochs: 2, batchSize: 8, gradAccumulation: 2, maxLength: 16, validation: { lossSamples: 0, recallUsers: 0 },
    lora: { enabled: true, rank: 4, alpha: 8, saveMerged: true },
  });
  const out = join(dir, 'lora');
  const summary = await runFinetuneStage(model, data, settings, out, { seed: 2, baseModel: 'scratch', newTokenIds: CODES, saveModel: (d) => saveQwen(model, d) });
  assert.equal(summary.mode, 'lora');
  const files = (await readdir(out)).sort();
  assert.ok(['adapter_config.json', 'adapter_model.safetensors', 'config.json', 'model.safetensors', 'training_log.json'].every((f) => files.includes(f)), files.join(', '));
  assert.ok((summary.lastLoss as number) < (summary.firstLoss as number));
});
