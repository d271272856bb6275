import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { buildBatch, prepareSequence } from '../../src/finetune/batching.js';
import { batchLossSum, crossEntropyRows } from '../../src/finetune/loss.js';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { Rng } from '../../src/tensor/rng.js';
import { FakeCausalLM } from './finetuneFakeModel.js';

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
});

/** log-sum-exp - x[target], in float64. */
function reference(logits: Float32Array, v: number, targets: Int32Array): number[] {
  return Array.from(targets, (t, i) => {
    const row = Array.from(logits.subarray(i * v, (i + 1) * v));
    const m = Math.max(...row);
    return m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0)) - row[t]!;
  });
}

test('cross-entropy equals log-sum-exp minus the target logit, stable for large logits, gradient softmax - indicator (wasm)', () => {
  assert.equal(tf.getBackend(), 'wasm');
  const rng = new Rng(1);
  const n = 5;
  const v = 7;
  const data = rng.fillNormal(new Float32Array(n * v), 0, 3);
  data[3] = 500; // a huge logit: a naive exp would overflow
  const targets = Int32Array.from([0, 6, 3, 3, 1]);
  const x = tf.variable(tf.tensor2d(data, [n, v]));
  const loss = crossEntropyRows(x as unknown as tf.Tensor2D, targets);
  const got = Array.from(loss.dataSync());
  reference(data, v, targets).forEach((r, i) => assert.ok(Math.abs(got[i]! - r) < 1e-4 * Math.max(1, Math.abs(r)), `row ${i}: ${got[i]} vs ${r}`));
  const weights = Float32Array.from([1, 2, 0.5, 1, 3]);
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(crossEntropyRows(x as unknown as tf.Tensor2D, targets), tf.tensor1d(weights))) as tf.Scalar, [x]);
  const g = grads[x.name]!.dataSync();
  for (let i = 0; i < n; i++) {
    const row = Array.from(data.subarray(i * v, (i + 1) * v));
    const m = Math.max(...row);
    const z = row.reduce((s, a) => s + Math.exp(a - m), 0);
    for (let j = 0; j < v; j++) {
      const expected = weights[i]! * (Math.exp(row[j]! - m) / z - (j === targets[i] ? 1 : 0));
      assert.ok(Math.abs(g[i * v + j]! - expected) < 1e-5, `grad [${i},${j}] ${g[i * v + j]} vs ${expected}`);
    }
  }
  tf.dispose([x, loss, grads[x.name]!]);
});

test('the head runs only on supervised rows; the loss is the sum of their token losses; candidate heads score subsets', () => {
  const model = new FakeCausalLM(40, 8, 5);
  const headRows: number[] = [];
  const spy = Object.create(model) as FakeCausalLM;
  spy.headLogits = (h, ids, o) => {
    headRows.push(h.shape[0]);
    return model.headLogits(h, ids, o);
  };
  const seqs = [
    prepareSequence({ promptIds: Int32Array.from([1, 2, 3, 4, 5, 6]), responseIds: Int32Array.from([30, 31]) }, 0, 64, 'a'),
    prepareSequence({ promptIds: Int32Array.from([7, 8]), responseIds: Int32Array.from([32, 33, 34]) }, 0, 64, 'b'),
  ];
  const batch = buildBatch(seqs, 0);
  const total = batchLossSum(spy, batch);
  assert.deepEqual(headRows, [batch.targets.length]); // 3 + 4 rows, not 2 x 9 positions
  // Reference: full logits at every position, summed at the supervised ones.
  const all = tf.tidy(() => model.headLogits(model.hidden(batch.ids, batch.batch, batch.seq)).dataSync() as Float32Array);
  const rowsLogits = new Float32Array(batch.rows.length * 40);
  batch.rows.forEach((r, i) => rowsLogits.set(all.subarray(r * 40, (r + 1) * 40), i * 40));
  const expected = reference(rowsLogits, 40, batch.targets).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total.dataSync()[0]! - expected) < 1e-3, `${total.dataSync()[0]} vs ${expected}`);
  // A candidate head over the response tokens + EOS only.
  const candidates = Int32Array.from([0, 30, 31, 32, 33, 34]);
  const sub = batchLossSum(model, batch, { headTokens: candidates });
  assert.ok(sub.dataSync()[0]! < total.dataSync()[0]!, 'fewer competitors, lower loss');
  assert.throws(() => batchLossSum(model, batch, { headTokens: Int32Array.from([0, 30]) }), /not in the candidate head/);
  tf.dispose([total, sub]);
  model.dispose();
});
