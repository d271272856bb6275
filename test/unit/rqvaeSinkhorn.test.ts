import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sinkhornAssignScaling } from '../../src/rqvae/sinkhornScaling.js';
import { Rng } from '../../src/tensor/rng.js';
import { centerCosts, sinkhornAssign } from '../../src/tensor/sinkhorn.js';

/** Squared distances of `rows` points to `cols` codes in `dim` dims, points near the codes at `spread`. */
function distances(rows: number, cols: number, dim: number, spread: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const codes = rng.fillNormal(new Float32Array(cols * dim));
  const out = new Float32Array(rows * cols);
  for (let b = 0; b < rows; b++) {
    const home = rng.int(Math.max(1, Math.floor(cols / 8))); // crowd a few codes: Sinkhorn must spread them
    const p = Float32Array.from({ length: dim }, (_, j) => codes[home * dim + j]! + spread * rng.normal());
    for (let k = 0; k < cols; k++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += (p[j]! - codes[k * dim + j]!) ** 2;
      out[b * cols + k] = s;
    }
  }
  return out;
}

test('the scaling-domain Sinkhorn assigns exactly as the engine\'s log-domain one', () => {
  const cases: Array<[string, Float32Array, number, number]> = [
    ['crowded', distances(512, 64, 8, 0.3, 1), 512, 64],
    ['tiny residuals', distances(300, 32, 4, 1e-3, 2).map((d) => d * 1e-6), 300, 32],
    ['uniform', new Rng(3).fillUniform(new Float32Array(256 * 128), 0, 4), 256, 128],
  ];
  for (const [name, cost, rows, cols] of cases) {
    for (const iterations of [0, 1, 50]) {
      const ours = sinkhornAssignScaling(cost, rows, cols, 0.003, iterations);
      const engine = sinkhornAssign(cost, rows, cols, 0.003, iterations);
      assert.deepEqual(ours, engine, `${name}, ${iterations} iterations`);
    }
  }
});

test('Sinkhorn spreads a crowded batch over the codes, where argmin piles it onto a few', () => {
  const rows = 512;
  const cols = 64;
  const cost = distances(rows, cols, 8, 0.3, 4);
  const argmin = new Set<number>();
  for (let b = 0; b < rows; b++) {
    let best = 0;
    for (let k = 1; k < cols; k++) if (cost[b * cols + k]! < cost[b * cols + best]!) best = k;
    argmin.add(best);
  }
  const balanced = sinkhornAssignScaling(cost, rows, cols, 0.003, 100);
  const counts = new Int32Array(cols);
  for (const c of balanced) counts[c]!++;
  assert.ok(argmin.size <= 16, `argmin uses ${argmin.size} codes`);
  assert.ok(new Set(balanced).size >= 0.9 * cols, `Sinkhorn uses ${new Set(balanced).size} of ${cols} codes`);
  assert.ok(Math.max(...counts) <= 4 * (rows / cols), `largest code gets ${Math.max(...counts)}`);
});

test('with fewer rows than codes the choice agrees with the log-domain one up to exact ties', () => {
  const rows = 37;
  const cols = 256;
  const cost = new Rng(5).fillUniform(new Float32Array(rows * cols), 0, 1);
  const ours = sinkhornAssignScaling(cost, rows, cols, 0.003, 50);
  const engine = sinkhornAssign(cost, rows, cols, 0.003, 50);
  // Reference potentials in plain float64 log-domain: both choices must score the row maximum.
  const c = centerCosts(cost).map((x) => -x / 0.003);
  const f = new Float64Array(rows);
  const g = new Float64Array(cols);
  const lse = (xs: number[]) => {
    const m = Math.max(...xs);
    return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
  };
  for (let t = 0; t < 50; t++) {
    for (let i = 0; i < rows; i++) f[i] = -Math.log(rows) - lse(Array.from({ length: cols }, (_, k) => c[i * cols + k]! + g[k]!));
    for (let k = 0; k < cols; k++) g[k] = -Math.log(cols) - lse(Array.from({ length: rows }, (_, i) => c[i * cols + k]! + f[i]!));
  }
  for (let i = 0; i < rows; i++) {
    const score = (k: number) => c[i * cols + k]! + g[k]!;
    assert.ok(Math.abs(score(ours[i]!) - score(engine[i]!)) < 1e-9, `row ${i}: ${ours[i]} vs ${engine[i]}`);
  }
});
