import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { Rng } from '../../src/tensor/rng.js';
import { transpose2d } from '../../src/tensor/transpose.js';

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
});

test('transpose2d gives tf.transpose bit for bit, for even and odd row and column counts', () => {
  const rng = new Rng(31);
  for (const [rows, cols] of [[1024, 768], [837, 768], [1024, 77], [333, 55], [1, 6], [6, 1], [1, 1], [2, 3]] as const) {
    tf.tidy(() => {
      const x = tf.tensor2d(rng.fillNormal(new Float32Array(rows * cols)), [rows, cols]);
      const got = transpose2d(x);
      assert.deepEqual(got.shape, [cols, rows]);
      assert.deepEqual(got.dataSync(), tf.transpose(x).dataSync(), `${rows} x ${cols}`);
    });
  }
});

test('transpose2d differentiates like tf.transpose', () => {
  const x = tf.variable(tf.tensor2d(new Rng(32).fillNormal(new Float32Array(12 * 10)), [12, 10]));
  const w = tf.tensor2d(new Rng(33).fillNormal(new Float32Array(10 * 12)), [10, 12]);
  try {
    const ours = tf.variableGrads(() => tf.sum(tf.mul(transpose2d(x), w)), [x]);
    const theirs = tf.variableGrads(() => tf.sum(tf.mul(tf.transpose(x), w)), [x]);
    assert.deepEqual(ours.grads[x.name]!.dataSync(), theirs.grads[x.name]!.dataSync());
    tf.dispose([ours.value, theirs.value, ...Object.values(ours.grads), ...Object.values(theirs.grads)]);
  } finally {
    x.dispose();
    w.dispose();
  }
});
