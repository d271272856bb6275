import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { assembleWat, wasmPathOf, WAT_SOURCES } from '../../infra/build-wasm.js';
import { sinkhornAssignScaling } from '../../src/rqvae/sinkhornScaling.js';
import { SinkhornWorkspace } from '../../src/rqvae/sinkhornSweep.js';
import { Rng } from '../../src/tensor/rng.js';

const root = new URL('../../', import.meta.url);

test('each committed .wasm is what its .wat assembles to (run infra/build-wasm.ts after editing one)', async () => {
  for (const wat of WAT_SOURCES) {
    const built = await assembleWat(wat, readFileSync(new URL(wat, root), 'utf8'));
    const committed = new Uint8Array(readFileSync(new URL(wasmPathOf(wat), root)));
    assert.deepEqual(committed, built, `${wasmPathOf(wat)} is stale`);
  }
});

/** A workspace with a random kernel (values spread over many magnitudes) and scalings. */
function filled(rows: number, cols: number, simd: boolean, seed: number): SinkhornWorkspace {
  const w = new SinkhornWorkspace(rows, cols, simd);
  const rng = new Rng(seed);
  for (let i = 0; i < w.kernel.length; i++) w.kernel[i] = Math.exp(-40 * rng.float());
  for (let k = 0; k < cols; k++) w.v[k] = Math.exp(10 * (rng.float() - 0.5));
  return w;
}

test('the SIMD row step gives the JS loop\'s u and column sums bit for bit', () => {
  assert.ok(new SinkhornWorkspace(16, 8).simd, 'this Node runs wasm SIMD: the fast path must be taken');
  // 1024 x 256: training; 37 rows: a tail after the blocks of 8; 5 rows: no block at all.
  for (const [rows, cols] of [[1024, 256], [37, 64], [8, 2], [5, 16]] as const) {
    const simd = filled(rows, cols, true, rows);
    const js = filled(rows, cols, false, rows);
    assert.equal(simd.simd, rows >= 8, `${rows} x ${cols}: SIMD used`);
    for (let round = 0; round < 3; round++) {
      simd.rowStepWithColumnSums(1 / rows);
      js.rowStepWithColumnSums(1 / rows);
      assert.deepEqual(simd.u, js.u, `${rows} x ${cols}, round ${round}: u`);
      assert.deepEqual(simd.colSums, js.colSums, `${rows} x ${cols}, round ${round}: column sums`);
      for (let k = 0; k < cols; k++) simd.v[k] = js.v[k] = (1 / cols) / js.colSums[k]!;
    }
  }
});

test('an odd number of codes runs the JS loop', () => {
  assert.equal(new SinkhornWorkspace(64, 33).simd, false);
});

test('Sinkhorn codes are the same with and without SIMD', () => {
  const rng = new Rng(11);
  for (const [rows, cols] of [[1024, 256], [300, 32], [41, 17]] as const) {
    const cost = rng.fillUniform(new Float32Array(rows * cols), 0, 4);
    assert.deepEqual(sinkhornAssignScaling(cost, rows, cols, 0.003, 30, true), sinkhornAssignScaling(cost, rows, cols, 0.003, 30, false), `${rows} x ${cols}`);
  }
});
