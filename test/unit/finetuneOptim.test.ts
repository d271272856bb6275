import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { SlicedAdamW } from '../../src/finetune/adamw.js';
import { cosineWithWarmup, warmupStepsFor } from '../../src/finetune/schedule.js';
import { AdamW } from '../../src/rqvae/adamw.js';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { Rng } from '../../src/tensor/rng.js';

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
});

const OPTS = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 };

test('on whole parameters the update is torch AdamW, identical to the RQ-VAE optimiser', () => {
  const rng = new Rng(2);
  const init = rng.fillNormal(new Float32Array(12));
  const a = tf.variable(tf.tensor2d(init, [3, 4]));
  const b = tf.variable(tf.tensor2d(init, [3, 4]));
  const ours = new SlicedAdamW([{ name: 'w', variable: a }], OPTS);
  const reference = new AdamW([b], OPTS);
  for (let step = 0; step < 5; step++) {
    const g = rng.fillNormal(new Float32Array(12));
    ours.apply([g], 0.01, 0.7);
    reference.apply([g], 0.01, 0.7);
  }
  assert.deepEqual(a.dataSync(), b.dataSync());
  assert.deepEqual(ours.moments().m, reference.moments().m);
  tf.dispose([a, b]);
});

test('a row slice updates and decays only its rows (axis 0 and axis 1), moments sized to the slice', () => {
  const rows = Int32Array.from([1, 3]);
  for (const axis of [0, 1] as const) {
    const shape: [number, number] = axis === 0 ? [5, 3] : [3, 5];
    const init = Float32Array.from({ length: 15 }, (_, i) => i + 1);
    const v = tf.variable(tf.tensor2d(init, shape));
    const opt = new SlicedAdamW([{ name: 'table', variable: v, rows: { axis, index: rows } }], { ...OPTS, weightDecay: 0.5 });
    opt.apply([new Float32Array(6).fill(1)], 0.1);
    const after = v.dataSync();
    for (let i = 0; i < 15; i++) {
      const [r, c] = [Math.floor(i / shape[1]), i % shape[1]];
      const trained = rows.includes(axis === 0 ? r : c);
      assert.equal(after[i] !== init[i], trained, `entry [${r},${c}]`);
    }
    assert.equal(opt.moments().m[0]!.length, 6);
    v.dispose();
  }
});

test('cosine schedule: linear warm-up from 0, peak at the end of warm-up, half at mid-decay, 0 at the end', () => {
  const total = 100;
  const warm = warmupStepsFor(0.1, total);
  assert.equal(warm, 10);
  assert.equal(cosineWithWarmup(0, warm, total), 0);
  assert.equal(cosineWithWarmup(5, warm, total), 0.5);
  assert.equal(cosineWithWarmup(10, warm, total), 1);
  assert.ok(Math.abs(cosineWithWarmup(55, warm, total) - 0.5) < 1e-12);
  assert.ok(cosineWithWarmup(100, warm, total) < 1e-12);
  assert.equal(warmupStepsFor(0.01, 250), 3, 'rounds up as the HF Trainer');
});
