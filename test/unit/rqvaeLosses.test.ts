import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { l2Normalize } from '../../src/rqvae/layers.js';
import { normalizedReconstructionLoss, reconstructionLoss } from '../../src/rqvae/losses.js';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { Rng } from '../../src/tensor/rng.js';

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
});

test('the fused normalised reconstruction loss equals l2Normalize + reconstructionLoss in value and gradient, a zero row included', () => {
  const rng = new Rng(21);
  const [batch, dim] = [37, 20];
  const values = rng.fillNormal(new Float32Array(batch * dim), 0, 0.7);
  values.fill(0, 5 * dim, 6 * dim); // row 5 is zero: its norm is clamped
  const target = tf.tensor2d(rng.fillNormal(new Float32Array(batch * dim)), [batch, dim]);
  const out = tf.variable(tf.tensor2d(values, [batch, dim]));
  try {
    for (const scaling of ['sum', 'mean'] as const) {
      let fusedXHat: Float32Array | undefined;
      const fused = tf.variableGrads(() => {
        const r = normalizedReconstructionLoss(out, target, scaling);
        fusedXHat = r.xHat.dataSync() as Float32Array;
        return r.loss;
      }, [out]);
      let plainXHat: Float32Array | undefined;
      const plain = tf.variableGrads(() => {
        const xHat = l2Normalize(out);
        plainXHat = xHat.dataSync() as Float32Array;
        return reconstructionLoss(xHat, target, scaling);
      }, [out]);
      const a = fused.value.dataSync()[0]!;
      const b = plain.value.dataSync()[0]!;
      assert.ok(Math.abs(a - b) <= 1e-5 * Math.abs(b), `${scaling}: loss ${a} vs ${b}`);
      for (let i = 0; i < plainXHat!.length; i++) assert.ok(Math.abs(fusedXHat![i]! - plainXHat![i]!) < 1e-6, `${scaling}: xHat ${i}`);
      const ga = fused.grads[out.name]!.dataSync();
      const gb = plain.grads[out.name]!.dataSync();
      // Row by row: the clamped row's gradient is ~1e12 times the others'.
      for (let r = 0; r < batch; r++) {
        let scale = 0;
        for (let j = 0; j < dim; j++) scale = Math.max(scale, Math.abs(gb[r * dim + j]!));
        for (let j = 0; j < dim; j++) {
          const i = r * dim + j;
          assert.ok(Math.abs(ga[i]! - gb[i]!) <= 1e-4 * scale, `${scaling}: gradient [${r}, ${j}]: ${ga[i]} vs ${gb[i]}`);
        }
      }
      assert.ok(Math.abs(gb[5 * dim]!) > 1e6, 'the zero row has the clamped (linear) gradient');
      tf.dispose([fused.value, plain.value, ...Object.values(fused.grads), ...Object.values(plain.grads)]);
    }
  } finally {
    out.dispose();
    target.dispose();
  }
});
