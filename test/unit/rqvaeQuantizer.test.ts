import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { assignCodes, squaredDistancesTo } from '../../src/rqvae/quantizer.js';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { Rng } from '../../src/tensor/rng.js';

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
});

/** ||p_b - e_k||^2 in float64, the plain way. */
function bruteDistances(points: Float32Array, table: Float32Array, dim: number): Float64Array {
  const rows = points.length / dim;
  const size = table.length / dim;
  const out = new Float64Array(rows * size);
  for (let b = 0; b < rows; b++) {
    for (let k = 0; k < size; k++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += (points[b * dim + j]! - table[k * dim + j]!) ** 2;
      out[b * size + k] = s;
    }
  }
  return out;
}

test('squaredDistancesTo (one matMul of [r | 1] by [-2 E^T ; ||e||^2]) equals the plain distances', () => {
  const rng = new Rng(11);
  const dim = 24;
  const points = rng.fillNormal(new Float32Array(97 * dim));
  const table = rng.fillNormal(new Float32Array(40 * dim), 0, 0.5);
  const got = squaredDistancesTo(points, table, dim);
  const want = bruteDistances(points, table, dim);
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-4 * (1 + want[i]!), `${i}: ${got[i]} vs ${want[i]}`);
});

test('assignCodes picks the nearest codeword at every level and leaves r_l = r_{l-1} - e_code', () => {
  const rng = new Rng(12);
  const [batch, dim, size] = [150, 16, 32];
  const codebooks = [0, 1, 2].map((l) => tf.tensor2d(rng.fillNormal(new Float32Array(size * dim), 0, 1 / (l + 1)), [size, dim]));
  const z = tf.tensor2d(rng.fillNormal(new Float32Array(batch * dim)), [batch, dim]);
  try {
    const out = assignCodes(z, codebooks);
    let residual = z.dataSync() as Float32Array;
    const sum = new Float64Array(batch * dim);
    out.codes.forEach((codes, l) => {
      const table = codebooks[l]!.dataSync() as Float32Array;
      const d = bruteDistances(residual, table, dim);
      for (let b = 0; b < batch; b++) {
        const row = d.subarray(b * size, (b + 1) * size);
        const best = Math.min(...row);
        // The chosen code is the nearest, up to float32 rounding of near-ties.
        assert.ok(row[codes[b]!]! - best < 1e-4 * (1 + best), `level ${l}, row ${b}: code ${codes[b]} at ${row[codes[b]!]} vs ${best}`);
        for (let j = 0; j < dim; j++) {
          assert.equal(out.residuals[l]![b * dim + j], Math.fround(residual[b * dim + j]! - table[codes[b]! * dim + j]!));
          sum[b * dim + j]! += table[codes[b]! * dim + j]!;
        }
      }
      residual = out.residuals[l]!;
    });
    const quantized = out.quantized.dataSync();
    for (let i = 0; i < sum.length; i++) assert.ok(Math.abs(quantized[i]! - sum[i]!) < 1e-5, `sum ${i}`);
    out.quantized.dispose();
  } finally {
    z.dispose();
    for (const c of codebooks) c.dispose();
  }
});
