import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { decodeSafetensors } from '../../src/tensor/safetensors.js';
import type { HostTensor } from '../../src/tensor/safetensors.js';
import { loadQwen } from '../../src/llm/checkpoint.js';
import type { QwenModel } from '../../src/llm/model.js';
import { randomQwen, scratchConfig } from '../../src/llm/random.js';
import type { LinearFn } from '../../src/llm/contract.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/llm/', import.meta.url));
const MODELS = ['qwen3-tiny', 'qwen2-tiny', 'qwen3-mqa-bias'] as const;

before(async () => {
  const info = await selectBackend({ prefer: 'wasm', log: () => {} });
  assert.equal(info.name, 'wasm');
});

function reference(name: string): Map<string, HostTensor> {
  return decodeSafetensors(readFileSync(join(FIXTURES, `${name}.reference.safetensors`))).tensors;
}

/** Largest |a - b| over rows [0, rows) of a [*, width] matrix starting at row `from` of `a`. */
function maxDiff(a: Float32Array, from: number, b: Float32Array, rows: number, width: number): number {
  let worst = 0;
  for (let i = 0; i < rows * width; i++) worst = Math.max(worst, Math.abs((a[from * width + i] as number) - (b[i] as number)));
  return worst;
}

/** Both reference sequences in one right-padded batch: every row's real positions must match transformers. */
async function checkAgainstReference(model: QwenModel, name: string): Promise<void> {
  const ref = reference(name);
  const seqs = [0, 1].map((s) => ref.get(`ids_${s}`)!.data as Int32Array);
  const seq = Math.max(...seqs.map((s) => s.length));
  const ids = new Int32Array(2 * seq).fill(7); // padding: any id, after the real tokens
  seqs.forEach((s, b) => ids.set(s, b * seq));
  const hidden = model.hidden(ids, 2, seq);
  const logits = model.headLogits(hidden);
  const h = hidden.dataSync() as Float32Array;
  const l = logits.dataSync() as Float32Array;
  tf.dispose([hidden, logits]);
  seqs.forEach((s, b) => {
    const dh = maxDiff(h, b * seq, ref.get(`hidden_${b}`)!.data as Float32Array, s.length, model.hiddenSize);
    const dl = maxDiff(l, b * seq, ref.get(`logits_${b}`)!.data as Float32Array, s.length, model.vocabSize);
    assert.ok(dh <= 1e-4, `${name} sequence ${b}: last hidden state differs from transformers by ${dh}`);
    assert.ok(dl <= 1e-4, `${name} sequence ${b}: logits differ from transformers by ${dl}`);
  });
}

for (const backend of ['wasm', 'cpu'] as const) {
  for (const name of MODELS) {
    test(`${name} on ${backend}: logits and last hidden state equal transformers' within 1e-4 (right-padded batch)`, async () => {
      await tf.setBackend(backend);
      try {
        const model = await loadQwen(join(FIXTURES, name), { backend: { name: backend, package: '', simd: null, threads: 1, gpu: false } });
        await checkAgainstReference(model, name);
        model.dispose();
      } finally {
        await tf.setBackend('wasm');
      }
    });
  }
}

test('headLogits for a subset of token ids are those columns of the full logits', async () => {
  const model = await loadQwen(join(FIXTURES, 'qwen2-tiny'));
  const ids = Int32Array.of(5, 9, 200, 31);
  const subset = Int32Array.of(299, 0, 17, 17);
  const hidden = model.hidden(ids, 1, 4);
  const full = model.headLogits(hidden).arraySync() as number[][];
  const part = model.headLogits(hidden, subset).arraySync() as number[][];
  for (let r = 0; r < 4; r++) {
    subset.forEach((id, c) => assert.ok(Math.abs(part[r]![c]! - full[r]![id]!) < 1e-5));
  }
  model.dispose();
});

test('every linear layer goes through opts.linear, named as linearModules lists them', async () => {
  const model = await loadQwen(join(FIXTURES, 'qwen3-tiny'));
  const seen: string[] = [];
  const base = model.defaultLinear;
  const ids = Int32Array.of(1, 2, 3);
  // A wrapper that records the module and scales one layer's output, as LoRA would change it.
  const wrapped: LinearFn = (module, x) => {
    seen.push(module);
    const y = base(module, x);
    return module === 'model.layers.1.mlp.down_proj' ? tf.mul(y, 0.5) : y;
  };
  const plain = model.hidden(ids, 1, 3).dataSync();
  const changed = model.hidden(ids, 1, 3, { linear: wrapped }).dataSync();
  assert.deepEqual(seen, [...model.linearModules]);
  assert.equal(model.linearModules.length, 2 * 7);
  assert.ok(plain.some((v, i) => Math.abs(v - changed[i]!) > 1e-3), 'the wrapper changed the output');
  model.dispose();
});

test('the forward differentiates on wasm: loss gradients reach every weight and equal the cpu backend', async () => {
  const config = scratchConfig({ hiddenSize: 32, intermediateSize: 48, layers: 2, heads: 4, kvHeads: 2, modelType: 'qwen3' }, 50);
  const ids = Int32Array.from({ length: 2 * 6 }, (_, i) => (i * 7 + 3) % 50);
  const targets = Int32Array.of(4, 9, 13);
  const gradsOn = async (backend: 'wasm' | 'cpu') => {
    await tf.setBackend(backend);
    const model = randomQwen(config, 11);
    const vars = [...model.weights.values()];
    const { value, grads } = tf.variableGrads(() => {
      const hidden = model.hidden(ids, 2, 6);
      const rows = tf.gather(hidden, Int32Array.of(0, 5, 11));
      return tf.sum(tf.mul(model.headLogits(rows, targets), tf.tensor2d([[1, -2, 0.5], [0.3, 1, -1], [2, 0.1, 1]]))) as tf.Scalar;
    }, vars);
    const out = new Map([...model.weights].map(([name, v]) => [name, Float32Array.from(grads[v.name]!.dataSync())]));
    const loss = value.dataSync()[0]!;
    tf.dispose([value, ...Object.values(grads)]);
    model.dispose();
    return { loss, grads: out };
  };
  try {
    const wasm = await gradsOn('wasm');
    const cpu = await gradsOn('cpu');
    assert.ok(Math.abs(wasm.loss - cpu.loss) < 1e-4);
    assert.equal(wasm.grads.size, 1 + 2 * 11 + 1);
    for (const [name, g] of wasm.grads) {
      const c = cpu.grads.get(name)!;
      const scale = Math.max(...c.map(Math.abs));
      assert.ok(scale > 0, `${name} gets a gradient`);
      g.forEach((v, i) => assert.ok(Math.abs(v - c[i]!) <= 1e-4 * scale + 1e-7, `${name}[${i}]: wasm ${v} vs cpu ${c[i]}`));
    }
  } finally {
    await tf.setBackend('wasm');
  }
});

test('token ids outside the vocabulary are refused with the offending id', async () => {
  const model = randomQwen(scratchConfig({ hiddenSize: 16, intermediateSize: 16, layers: 1, heads: 2, kvHeads: 1 }, 20), 1);
  assert.throws(() => model.hidden(Int32Array.of(1, 20), 1, 2), /token id 20 at index 1 is outside the vocabulary \(0\.\.19\)/);
  assert.throws(() => model.hidden(Int32Array.of(1, 2, 3), 2, 2), /3 token ids do not make batch 2 x seq 2/);
  model.dispose();
});
