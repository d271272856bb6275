import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { AdamW, clipScale, globalNorm } from '../../src/rqvae/adamw.js';
import { linearWarmupDecay } from '../../src/rqvae/schedule.js';
import { selectBackend, tf } from '../../src/tensor/backend.js';

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
});

const OPTS = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 1e-4 };

test('AdamW weight decay shrinks weights by (1 - lr * wd) per step when the gradient is zero', () => {
  const p = tf.variable(tf.tensor1d([3, -2, 0.5, 100]));
  try {
    const opt = new AdamW([p], { ...OPTS, weightDecay: 0.1 });
    for (let i = 0; i < 3; i++) opt.apply([new Float32Array(4)], 0.5);
    const factor = (1 - 0.5 * 0.1) ** 3;
    const got = p.dataSync();
    [3, -2, 0.5, 100].forEach((w, i) => assert.ok(Math.abs(got[i]! - w * factor) < 1e-5 * Math.abs(w), `${got[i]} vs ${w * factor}`));
    assert.equal(opt.step, 3);
  } finally {
    p.dispose();
  }
});

test('AdamW follows torch.optim.AdamW step for step', () => {
  const p = tf.variable(tf.tensor1d([1, -1]));
  try {
    const opt = new AdamW([p], OPTS);
    const lr = 0.01;
    // hand-computed torch reference for two steps with gradients g1, g2
    const g = [Float32Array.from([0.5, -2]), Float32Array.from([0.1, 3])];
    let w = [1, -1];
    const m = [0, 0];
    const v = [0, 0];
    g.forEach((grad, t) => {
      opt.apply([grad], lr);
      w = w.map((wi, i) => {
        m[i] = 0.9 * m[i]! + 0.1 * grad[i]!;
        v[i] = 0.999 * v[i]! + 0.001 * grad[i]! ** 2;
        const mh = m[i]! / (1 - 0.9 ** (t + 1));
        const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - 0.999 ** (t + 1)) + 1e-8;
        return wi * (1 - lr * 1e-4) - lr * (mh / denom) * 1;
      });
    });
    const got = p.dataSync();
    w.forEach((wi, i) => assert.ok(Math.abs(got[i]! - wi) < 1e-6, `${got[i]} vs ${wi}`));
    // moments round-trip
    const saved = opt.moments();
    const other = new AdamW([p], OPTS);
    other.load(saved);
    assert.deepEqual(other.moments(), saved);
  } finally {
    p.dispose();
  }
});

test('clipping by global norm bounds the norm at 1.0 and leaves small gradients alone', () => {
  const grads = [Float32Array.from([3, 4]), Float32Array.from([12])]; // norm 13
  const norm = globalNorm(grads);
  assert.equal(norm, 13);
  const scale = clipScale(norm, 1.0);
  const clipped = globalNorm(grads.map((g) => g.map((x) => x * scale)));
  assert.ok(clipped <= 1.0 + 1e-6, `clipped norm ${clipped}`);
  assert.ok(clipped > 0.999);
  assert.equal(clipScale(0.5, 1.0), 1);

  // and the optimiser applies it: a huge gradient moves a parameter exactly like its clipped version
  const a = tf.variable(tf.tensor1d([0, 0]));
  const b = tf.variable(tf.tensor1d([0, 0]));
  try {
    const huge = Float32Array.from([3e6, 4e6]);
    new AdamW([a], OPTS).apply([huge], 0.1, clipScale(globalNorm([huge]), 1.0));
    new AdamW([b], OPTS).apply([Float32Array.from([0.6, 0.8])], 0.1);
    const da = a.dataSync();
    const db = b.dataSync();
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(da[i]! - db[i]!) < 1e-6);
  } finally {
    tf.dispose([a, b]);
  }
});

test('learning rate: linear warm-up from 0, then linear decay to 0 (transformers schedule)', () => {
  const f = (s: number) => linearWarmupDecay(s, 10, 110);
  assert.equal(f(0), 0);
  assert.equal(f(5), 0.5);
  assert.equal(f(10), 1);
  assert.equal(f(60), 0.5);
  assert.equal(f(110), 0);
  assert.equal(f(200), 0);
  assert.equal(linearWarmupDecay(0, 0, 10), 1);
});
