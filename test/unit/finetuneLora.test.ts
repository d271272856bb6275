import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BadInputError } from '../../src/errors.js';
import { LoraAdapters, linearAccessFor, matchTargets } from '../../src/finetune/lora.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, mergedWeights, savePeftAdapter } from '../../src/finetune/peft.js';
import { FinetuneSettingsSchema } from '../../src/finetune/settings.js';
import { finetune } from '../../src/finetune/trainer.js';
import type { FinetuneData } from '../../src/finetune/trainer.js';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { Rng } from '../../src/tensor/rng.js';
import { SafetensorsFile } from '../../src/tensor/safetensors.js';
import { DOWN, FakeCausalLM, UP } from './finetuneFakeModel.js';

let dir: string;
before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
  dir = await mkdtemp(join(tmpdir(), 'lcrec-lora-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const VOCAB = 48;
const HIDDEN = 16;
const NEW_TOKENS = Int32Array.from({ length: 10 }, (_, i) => 38 + i);

/** Item b (10..19) -> its new ID token 38 + (b - 10). */
const data: FinetuneData = {
  units: 40,
  render: (u) => ({ promptIds: Int32Array.from([1 + (u % 3), 10 + (u % 10)]), responseIds: Int32Array.from([38 + (u % 10)]) }),
  eosId: 0,
  validation: { count: 10, render: (i) => ({ promptIds: Int32Array.from([2, 10 + i]), responseIds: Int32Array.from([38 + i]) }) },
};

const settings = FinetuneSettingsSchema.parse({
  learningRate: 0.05,
  epochs: 4,
  batchSize: 8,
  gradAccumulation: 1,
  warmupRatio: 0,
  maxLength: 8,
  validation: { lossSamples: 0, recallUsers: 0 },
  lora: { enabled: true, rank: 4, alpha: 8, dropout: 0, targets: ['up_proj', 'down_proj'] },
});

test('an unknown LoRA target names the field and lists the available modules', () => {
  const modules = ['model.layers.0.self_attn.q_proj', 'model.layers.0.mlp.up_proj', 'model.layers.1.mlp.up_proj'];
  assert.deepEqual(matchTargets(modules, ['up_proj']), ['model.layers.0.mlp.up_proj', 'model.layers.1.mlp.up_proj']);
  assert.throws(
    () => matchTargets(modules, ['q_proj', 'gate_proj']),
    (e: unknown) => e instanceof BadInputError && /finetune\.lora\.targets/.test(e.message) && /'gate_proj'/.test(e.message) && /available: q_proj, up_proj/.test(e.message),
  );
});

test('LoRA trains adapters and only the new tokens\' rows; the base stays frozen bit for bit', async () => {
  const model = new FakeCausalLM(VOCAB, HIDDEN, 4, false);
  const before = new Map([...model.weights].map(([n, v]) => [n, (v.dataSync() as Float32Array).slice()]));
  const result = await finetune(model, data, settings, { seed: 3, newTokenIds: NEW_TOKENS });
  const lora = result.lora!;
  assert.equal(result.log.mode, 'lora');
  assert.deepEqual(result.params.map((p) => p.name), [`lora.${UP}.A`, `lora.${UP}.B`, `lora.${DOWN}.A`, `lora.${DOWN}.B`, 'rows.model.embed_tokens.weight', 'rows.lm_head.weight']);
  for (const name of [`${UP}.weight`, `${DOWN}.weight`]) assert.deepEqual(model.weights.get(name)!.dataSync(), before.get(name), name);
  const isNew = new Set(NEW_TOKENS);
  for (const name of ['model.embed_tokens.weight', 'lm_head.weight']) {
    const now = model.weights.get(name)!.dataSync();
    const old = before.get(name)!;
    for (let row = 0; row < VOCAB; row++) {
      const same = now.subarray(row * HIDDEN, (row + 1) * HIDDEN).every((x, j) => x === old[row * HIDDEN + j]);
      assert.equal(same, !isNew.has(row), `${name} row ${row} ${isNew.has(row) ? 'should have trained' : 'must stay frozen'}`);
    }
  }
  const v = result.log.validation;
  assert.ok(v.at(-1)!.loss! < 0.5 * v[0]!.loss!, `validation loss ${v[0]!.loss} -> ${v.at(-1)!.loss}`);
  lora.dispose();
  model.dispose();
});

test('PEFT layout: adapter_config.json and adapter_model.safetensors with PEFT names and shapes', async () => {
  const model = new FakeCausalLM(VOCAB, HIDDEN, 4, false);
  const result = await finetune(model, data, { ...settings, epochs: 1 }, { seed: 3, newTokenIds: NEW_TOKENS });
  const out = join(dir, 'adapter');
  await savePeftAdapter(out, result.lora!, { baseModel: '/models/base', tokenRows: result.params.filter((p) => p.rows) });
  const config = JSON.parse(await readFile(join(out, ADAPTER_CONFIG), 'utf8'));
  assert.equal(config.peft_type, 'LORA');
  assert.equal(config.task_type, 'CAUSAL_LM');
  assert.equal(config.r, 4);
  assert.equal(config.lora_alpha, 8);
  assert.deepEqual(config.target_modules, [UP, DOWN]);
  assert.deepEqual(config.trainable_token_indices, { embed_tokens: Array.from(NEW_TOKENS), lm_head: Array.from(NEW_TOKENS) });
  const file = await SafetensorsFile.open(join(out, ADAPTER_WEIGHTS));
  const shapes = Object.fromEntries(await Promise.all(file.names().map(async (n) => [n, (await file.read(n)).shape] as const)));
  await file.close();
  assert.deepEqual(shapes, {
    [`base_model.model.${UP}.lora_A.weight`]: [4, HIDDEN],
    [`base_model.model.${UP}.lora_B.weight`]: [2 * HIDDEN, 4],
    [`base_model.model.${DOWN}.lora_A.weight`]: [4, 2 * HIDDEN],
    [`base_model.model.${DOWN}.lora_B.weight`]: [HIDDEN, 4],
    'base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta': [NEW_TOKENS.length, HIDDEN],
    'base_model.model.lm_head.token_adapter.trainable_tokens_delta': [NEW_TOKENS.length, HIDDEN],
  });
  result.lora!.dispose();
  model.dispose();
});

test('merged weights compute what base + adapter compute; withMerged restores the base exactly', async () => {
  const model = new FakeCausalLM(VOCAB, HIDDEN, 8);
  const lora = new LoraAdapters(model, linearAccessFor(model), { rank: 3, alpha: 6, dropout: 0.2, targets: ['up_proj', 'down_proj'] }, new Rng(1));
  // B starts at zero (the adapter is a no-op at init); give it values so the test means something.
  const rng = new Rng(7);
  for (const p of lora.params()) if (p.variable.shape[0] === 3) p.variable.assign(tf.tensor(rng.fillUniform(new Float32Array(p.variable.size), -0.5, 0.5), p.variable.shape));
  const ids = Int32Array.from([1, 5, 9, 12, 3, 4]);
  const withAdapter = tf.tidy(() => model.hidden(ids, 2, 3, { linear: lora.linear() }).dataSync() as Float32Array);
  const plain = tf.tidy(() => model.hidden(ids, 2, 3).dataSync() as Float32Array);
  assert.ok(withAdapter.some((x, i) => Math.abs(x - plain[i]!) > 1e-3), 'the adapter changes the output');
  const merged = mergedWeights(model, lora);
  const copy = new FakeCausalLM(VOCAB, HIDDEN, 99);
  for (const [name, t] of merged) copy.weights.get(name)!.assign(tf.tensor(t.data, t.shape as number[]));
  const fromMerged = tf.tidy(() => copy.hidden(ids, 2, 3).dataSync() as Float32Array);
  fromMerged.forEach((x, i) => assert.ok(Math.abs(x - withAdapter[i]!) < 1e-5, `output ${i}: ${x} vs ${withAdapter[i]}`));
  const base = (model.weights.get(`${UP}.weight`)!.dataSync() as Float32Array).slice();
  const inside = await lora.withMerged(async () => tf.tidy(() => model.hidden(ids, 2, 3).dataSync() as Float32Array));
  inside.forEach((x, i) => assert.ok(Math.abs(x - withAdapter[i]!) < 1e-5));
  assert.deepEqual(model.weights.get(`${UP}.weight`)!.dataSync(), base);
  lora.dispose();
  model.dispose();
  copy.dispose();
});
