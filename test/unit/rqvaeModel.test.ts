import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { readModelDir, writeModelDir } from '../../src/rqvae/checkpointFiles.js';
import { dense, l2Normalize } from '../../src/rqvae/layers.js';
import { quantizationScale } from '../../src/rqvae/losses.js';
import { Rqvae } from '../../src/rqvae/model.js';
import { GENREC_RQVAE, OFFICIAL_RQVAE, validateRqvaeSettings } from '../../src/rqvae/settings.js';
import type { RqvaeSettings } from '../../src/rqvae/settings.js';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { customOp } from '../../src/tensor/customOp.js';
import { KeptForBackward } from '../../src/tensor/keptForBackward.js';
import { gatherRows, straightThrough } from '../../src/tensor/ops.js';
import { Rng } from '../../src/tensor/rng.js';

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
});

const SMALL: RqvaeSettings = { ...GENREC_RQVAE, hiddenWidths: [24, 16], latentDim: 8, levels: 3, codebookSize: 16, sinkhornIterations: 30 };

function data(rows: number, dim: number, seed: number, std = 1): tf.Tensor2D {
  return tf.tensor2d(new Rng(seed).fillNormal(new Float32Array(rows * dim), 0, std), [rows, dim]);
}

/** sg(x) for the reference: the value of x, no gradient. */
function stopGradient<T extends tf.Tensor>(x: T): T {
  return customOp({ inputs: { x }, forward: () => tf.clone(x), backward: (dy) => ({ x: () => tf.zerosLike(dy) }) }) as T;
}

/**
 * Spec C.1 written literally with plain tf ops and autodiff, for fixed codes: MLPs, per-level
 * ||sg(r) - q||^2 + beta ||r - sg(q)||^2, r_l = r_{l-1} - STE(q_l), z_q = sum STE(q_l), recon.
 */
function referenceLoss(model: Rqvae, x: tf.Tensor2D, codes: Int32Array[]): tf.Scalar {
  const s = model.settings;
  const act = (t: tf.Tensor2D): tf.Tensor2D => (s.activation === 'silu' ? tf.mul(t, tf.sigmoid(t)) : tf.relu(t)) as tf.Tensor2D;
  const mlp = (layers: Rqvae['encoder'], h: tf.Tensor2D) => {
    layers.forEach((layer, i) => {
      h = tf.matMul(h, layer.weight);
      if (layer.bias) h = tf.add(h, layer.bias);
      if (i < layers.length - 1) h = act(h);
    });
    return h;
  };
  const z = mlp(model.encoder, x);
  let r = z;
  let zq: tf.Tensor2D | undefined;
  let quant = tf.scalar(0) as tf.Scalar;
  model.codebooks.forEach((codebook, l) => {
    const q = gatherRows(codebook, codes[l]!);
    const level = tf.add(tf.sum(tf.square(tf.sub(stopGradient(r), q))), tf.mul(tf.sum(tf.square(tf.sub(r, stopGradient(q)))), s.commitmentWeight));
    quant = tf.add(quant, level) as tf.Scalar;
    const qSte = straightThrough(r, q);
    r = tf.sub(r, qSte) as tf.Tensor2D;
    zq = zq === undefined ? qSte : (tf.add(zq, qSte) as tf.Tensor2D);
  });
  let xHat = mlp(model.decoder, zq!);
  if (s.normalizeOutput) xHat = tf.div(xHat, tf.sqrt(tf.sum(tf.square(xHat), 1, true)));
  const [batch, dim] = x.shape;
  const recon = tf.div(tf.sum(tf.square(tf.sub(xHat, x))), s.lossScaling === 'sum' ? batch : batch * dim);
  const quantScaled = tf.mul(quant, quantizationScale(s.lossScaling, batch, s.latentDim, s.levels) * s.quantLossWeight);
  return tf.add(recon, quantScaled) as tf.Scalar;
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string, rtol = 2e-4): void {
  assert.equal(actual.length, expected.length, what);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < expected.length; i++) {
    const tol = rtol * Math.abs(expected[i]!) + rtol * 0.1 * scale;
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

test('shapes: encode, quantize, decode and the losses of a genrec-shaped model', () => {
  const model = new Rqvae({ inputDim: 40, settings: SMALL }, new Rng(1));
  try {
    assert.deepEqual(
      model.namedVariables().map(([name, v]) => `${name}:${v.shape}`),
      [
        'encoder.0.weight:40,24', 'encoder.1.weight:24,16', 'encoder.2.weight:16,8',
        'decoder.0.weight:8,16', 'decoder.1.weight:16,24', 'decoder.2.weight:24,40',
        'quantizer.0.codebook:16,8', 'quantizer.1.codebook:16,8', 'quantizer.2.codebook:16,8',
      ],
    );
    tf.tidy(() => {
      const x = data(33, 40, 2);
      const out = model.forward(x, 'train');
      assert.deepEqual(out.xHat.shape, [33, 40]);
      assert.deepEqual(out.zq.shape, [33, 8]);
      assert.equal(out.codes.length, 3);
      for (const c of out.codes) {
        assert.equal(c.length, 33);
        assert.ok(c.every((k) => k >= 0 && k < 16));
      }
      assert.equal(out.loss.rank, 0);
      // genrec L2-normalises the output
      const norms = tf.sqrt(tf.sum(tf.square(out.xHat), 1)).dataSync();
      for (const n of norms) assert.ok(Math.abs(n - 1) < 1e-5);
    });
  } finally {
    model.dispose();
  }
  // official preset: biases, ReLU, 32-d latent, 4 levels
  const official = new Rqvae({ inputDim: 64, settings: { ...OFFICIAL_RQVAE, hiddenWidths: [48, 40], codebookSize: 8 } }, new Rng(1));
  try {
    const names = official.namedVariables().map(([name, v]) => `${name}:${v.shape}`);
    assert.ok(names.includes('encoder.0.bias:48'));
    assert.ok(names.includes('encoder.2.weight:40,32'));
    assert.equal(official.codebooks.length, 4);
    // Xavier-normal weights and zero biases
    assert.ok(official.encoder[0]!.bias!.dataSync().every((v) => v === 0));
  } finally {
    official.dispose();
  }
});

test('fused ops give the gradients of autodiff over the literal spec formula (both scalings, SiLU and ReLU)', () => {
  const variants: Array<[string, RqvaeSettings]> = [
    ['genrec', SMALL],
    ['official-like', { ...SMALL, activation: 'relu', bias: true, weightInit: 'xavier-normal', normalizeOutput: false, lossScaling: 'mean', quantLossWeight: 0.7 }],
  ];
  for (const [name, settings] of variants) {
    const model = new Rqvae({ inputDim: 40, settings }, new Rng(3));
    try {
      tf.tidy(() => {
        const x = data(50, 40, 4, 0.3);
        const vars = model.variables();
        let codes: Int32Array[] = [];
        const ours = tf.variableGrads(() => {
          const out = model.forward(x, 'train');
          codes = out.codes;
          return out.loss;
        }, vars);
        const reference = tf.variableGrads(() => referenceLoss(model, x, codes), vars);
        assertClose(ours.value.dataSync() as Float32Array, reference.value.dataSync() as Float32Array, `${name} loss`, 1e-5);
        for (const [vn, v] of model.namedVariables()) {
          assertClose(ours.grads[v.name]!.dataSync() as Float32Array, reference.grads[v.name]!.dataSync() as Float32Array, `${name} d/d ${vn}`);
        }
      });
    } finally {
      model.dispose();
    }
  }
});

test('keeping activations for the backward instead of saving (cloning) them gives the same gradients and leaves no tensor behind', () => {
  const variants: Array<[string, RqvaeSettings]> = [
    ['genrec', SMALL],
    ['official-like', { ...SMALL, activation: 'relu', bias: true, weightInit: 'xavier-normal', normalizeOutput: false, lossScaling: 'mean' }],
  ];
  for (const [name, settings] of variants) {
    const model = new Rqvae({ inputDim: 40, settings }, new Rng(5));
    const x = data(64, 40, 6, 0.3);
    try {
      const grads = (kept?: KeptForBackward): Float32Array[] => {
        const before = tf.memory().numTensors;
        const { value, grads: g } = tf.variableGrads(() => model.forward(x, 'train', kept).loss, model.variables());
        kept?.release();
        const out = model.variables().map((v) => g[v.name]!.dataSync() as Float32Array);
        tf.dispose([value, ...Object.values(g)]);
        assert.equal(tf.memory().numTensors, before, `${name}: tensors left behind${kept ? ' with kept activations' : ''}`);
        return out;
      };
      const saved = grads();
      const keeper = new KeptForBackward();
      keeper.lend(x);
      const kept = grads(keeper);
      saved.forEach((g, i) => assert.deepEqual(kept[i], g, `${name}: gradient of ${model.namedVariables()[i]![0]}`));
      assert.ok(!x.isDisposed, 'a lent tensor is not disposed by release()');
    } finally {
      x.dispose();
      model.dispose();
    }
  }
});

test('the straight-through estimator carries the reconstruction gradient through the codes to the encoder', () => {
  // No quantisation loss at all: whatever reaches the encoder came through the decoder and the STE.
  const model = new Rqvae({ inputDim: 40, settings: { ...SMALL, commitmentWeight: 0, quantLossWeight: 0 } }, new Rng(5));
  try {
    tf.tidy(() => {
      const x = data(20, 40, 6);
      const { grads } = tf.variableGrads(() => model.forward(x, 'train').loss, model.variables());
      for (const layer of model.encoder) {
        const g = grads[layer.weight.name]!.dataSync();
        assert.ok(g.some((v) => v !== 0), 'encoder gradient is non-zero');
        assert.ok(g.every(Number.isFinite));
      }
      // codebooks get no gradient from the reconstruction (STE), only from the codebook loss
      for (const c of model.codebooks) assert.ok(grads[c.name]!.dataSync().every((v) => v === 0));
    });
  } finally {
    model.dispose();
  }
});

test('dense and l2Normalize match autodiff of their tf-op definitions', () => {
  const rng = new Rng(8);
  const w = tf.variable(tf.tensor2d(rng.fillNormal(new Float32Array(12 * 7)), [12, 7]));
  const b = tf.variable(tf.tensor1d(rng.fillNormal(new Float32Array(7))));
  const x = tf.variable(tf.tensor2d(rng.fillNormal(new Float32Array(9 * 12)), [9, 12]));
  const weights = tf.tensor2d(rng.fillNormal(new Float32Array(9 * 7)), [9, 7]);
  const weights12 = tf.tensor2d(rng.fillNormal(new Float32Array(9 * 12)), [9, 12]);
  try {
    for (const act of ['silu', 'relu', 'none'] as const) {
      tf.tidy(() => {
        const f = (useOurs: boolean) =>
          tf.variableGrads(() => {
            let y: tf.Tensor2D;
            if (useOurs) y = dense(x, w, b, act);
            else {
              const pre = tf.add(tf.matMul(x, w), b) as tf.Tensor2D;
              y = act === 'silu' ? tf.mul(pre, tf.sigmoid(pre)) : act === 'relu' ? tf.relu(pre) : pre;
            }
            return tf.sum(tf.mul(y, weights)) as tf.Scalar;
          }, [x, w, b]);
        const ours = f(true);
        const ref = f(false);
        for (const v of [x, w, b]) assertClose(ours.grads[v.name]!.dataSync() as Float32Array, ref.grads[v.name]!.dataSync() as Float32Array, `${act} ${v.name}`);
      });
    }
    tf.tidy(() => {
      const g = (useOurs: boolean) =>
        tf.variableGrads(() => {
          const y = useOurs ? l2Normalize(x) : tf.div(x, tf.sqrt(tf.sum(tf.square(x), 1, true)));
          return tf.sum(tf.mul(y, weights12)) as tf.Scalar;
        }, [x]);
      assertClose(g(true).grads[x.name]!.dataSync() as Float32Array, g(false).grads[x.name]!.dataSync() as Float32Array, 'l2Normalize');
    });
  } finally {
    tf.dispose([w, b, x, weights, weights12]);
  }
});

test('a model written with writeModelDir reads back with the same weights and settings', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rqvae-model-'));
  const model = new Rqvae({ inputDim: 40, settings: SMALL }, new Rng(9));
  try {
    await writeModelDir(dir, model);
    const back = await readModelDir(dir);
    try {
      assert.deepEqual(back.config, model.config);
      const a = model.weights();
      const b = back.weights();
      assert.deepEqual(Object.keys(b), Object.keys(a));
      for (const name of Object.keys(a)) assert.deepEqual(b[name]!.data, a[name]!.data, name);
    } finally {
      back.dispose();
    }
  } finally {
    model.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

test('settings are validated with the offending field named', () => {
  validateRqvaeSettings(GENREC_RQVAE);
  validateRqvaeSettings(OFFICIAL_RQVAE);
  assert.throws(() => validateRqvaeSettings({ ...GENREC_RQVAE, levels: 0 }), /rqvae\.levels/);
  assert.throws(() => validateRqvaeSettings({ ...GENREC_RQVAE, adamBeta2: 1 }), /rqvae\.adamBeta2/);
  assert.throws(() => validateRqvaeSettings({ ...GENREC_RQVAE, activation: 'gelu' as 'silu' }), /rqvae\.activation/);
});
