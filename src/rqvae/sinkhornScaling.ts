/**
 * The last level's Sinkhorn-Knopp assignment (spec C.2), the same algorithm and result as the
 * engine's log-domain `sinkhornAssign` (src/tensor/sinkhorn.ts), computed in the scaling domain:
 * the engine's version pays an exp per matrix entry per half-iteration whenever the rows of the
 * cost matrix are flat (at the last level, with k-means codebooks, they are: a training step spent
 * ~400 ms there at 100 iterations). Here the kernel is exponentiated once and every iteration is
 * two float64 multiply-add sweeps.
 *
 *   C = -D'/eps with D' the official centring of the costs into [-1, 1]       (|C| <= 1/eps)
 *   K[b,k] = exp(C[b,k] + alpha[b] + beta[k])   alpha, beta: absorbed log-potentials
 *   repeat: u[b] = (1/B) / sum_k K[b,k] v[k]  (rows, first)   v[k] = (1/K) / sum_b K[b,k] u[b]  (columns)
 *   code[b] = argmax_k C[b,k] + beta[k] + log v[k]   (ties: lowest index)
 * Stability ("absorption", Schmitzer 2019): alpha starts at -max_k C[b,k], so every entry of K lies
 * in [e^-2/eps, 1] (normal float64 for eps >= 0.0015); when a scaling leaves [e^-ABSORB, e^ABSORB]
 * it is folded into alpha/beta and K is recomputed. Should a sum still come out zero or not finite,
 * the engine's log-domain implementation answers instead.
 *
 * Speed: the hot loop, the row step fused with the column sums, runs as WebAssembly SIMD
 * (sinkhornSweep.ts/.wat: ~0.11 ms per iteration at 1024 x 256, against ~0.45 ms for the JS loop,
 * bit for bit the same); a whole assignment with 100 iterations takes 19-25 ms (bench/rqvae
 * `sinkhorn_ms`), of which ~5 ms are the two exp passes over the kernel (start, one absorption).
 */
import { argmaxWithColumnOffsets, costCentring, sinkhornAssign } from '../tensor/sinkhorn.js';
import { SinkhornWorkspace } from './sinkhornSweep.js';

/** Scalings beyond e^+-ABSORB are folded into the potentials (K recomputed: one exp pass). */
const ABSORB = 100;
const HIGH = Math.exp(ABSORB);
const LOW = Math.exp(-ABSORB);

/**
 * Code of each row of a row-major [rows, cols] cost matrix (squared distances). `useSimd: false`
 * runs the hot loop in JS (same result, bit for bit; for tests and benchmarks).
 */
export function sinkhornAssignScaling(cost: ArrayLike<number>, rows: number, cols: number, epsilon: number, iterations: number, useSimd = true): Int32Array {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows <= 0 || cols <= 0 || cost.length !== rows * cols) {
    throw new RangeError(`sinkhorn: cost has ${cost.length} values, expected ${rows} x ${cols}`);
  }
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) throw new RangeError(`sinkhorn: epsilon must be > 0, got ${epsilon}`);
  if (!Number.isInteger(iterations) || iterations < 0) throw new RangeError(`sinkhorn: iterations must be an integer >= 0, got ${iterations}`);
  // Beyond e^-708 the kernel would leave the normal float64 range: the log domain copes.
  if (2 / epsilon > 700) return sinkhornAssign(cost, rows, cols, epsilon, iterations);

  const c = new Float64Array(rows * cols);
  const alpha = new Float64Array(rows);
  scaledCosts(cost, rows, cols, epsilon, c, alpha);
  const beta = new Float64Array(cols);
  const workspace = new SinkhornWorkspace(rows, cols, useSimd);
  const { kernel, u, v, colSums } = workspace;
  u.fill(1);
  v.fill(1);

  /** Folds u and v into alpha and beta (u = v = 1 afterwards) and recomputes the kernel. */
  const absorb = () => {
    for (let b = 0; b < rows; b++) alpha[b] = (alpha[b] as number) + Math.log(u[b] as number);
    for (let k = 0; k < cols; k++) beta[k] = (beta[k] as number) + Math.log(v[k] as number);
    u.fill(1);
    v.fill(1);
    computeKernel(kernel, c, alpha, beta, rows, cols);
  };

  computeKernel(kernel, c, alpha, beta, rows, cols);
  for (let it = 0; it < iterations; it++) {
    workspace.rowStepWithColumnSums(1 / rows);
    const rowScalings = checkScalings(u);
    if (rowScalings === 'broken') return sinkhornAssign(cost, rows, cols, epsilon, iterations);
    if (rowScalings === 'extreme') {
      absorb();
      columnSums(kernel, u, colSums, rows, cols);
    }
    const colTarget = 1 / cols;
    for (let k = 0; k < cols; k++) v[k] = colTarget / (colSums[k] as number);
    const colScalings = checkScalings(v);
    if (colScalings === 'broken') return sinkhornAssign(cost, rows, cols, epsilon, iterations);
    if (colScalings === 'extreme') absorb();
  }

  // argmax_k of log P[b,k] = C[b,k] + (beta[k] + log v[k]) + (a row constant)
  const g = new Float64Array(cols);
  for (let k = 0; k < cols; k++) g[k] = (beta[k] as number) + Math.log(v[k] as number);
  return argmaxWithColumnOffsets(c, rows, cols, g);
}

/** `extreme`: some scaling left [e^-ABSORB, e^ABSORB] (absorb); `broken`: one is zero or not finite (log domain). */
type Scalings = 'fine' | 'extreme' | 'broken';

function checkScalings(s: Float64Array): Scalings {
  let state: Scalings = 'fine';
  for (let i = 0; i < s.length; i++) {
    const x = s[i] as number;
    if (!(x > 0 && x < Infinity)) return 'broken';
    if (x > HIGH || x < LOW) state = 'extreme';
  }
  return state;
}

/**
 * c = C = -D'/eps with D' the official centring (centerCosts, same arithmetic), and
 * alpha[b] = -max_k C[b,k]: one pass over the costs after the one that finds their range.
 */
function scaledCosts(cost: ArrayLike<number>, rows: number, cols: number, epsilon: number, c: Float64Array, alpha: Float64Array): void {
  const { mid, amp } = costCentring(cost);
  for (let b = 0; b < rows; b++) {
    const o = b * cols;
    let m = -Infinity;
    for (let k = 0; k < cols; k++) {
      const v = -(((cost[o + k] as number) - mid) / amp) / epsilon;
      c[o + k] = v;
      m = Math.max(m, v);
    }
    alpha[b] = -m;
  }
}

/** K[b,k] = exp(C[b,k] + alpha[b] + beta[k]). */
function computeKernel(kernel: Float64Array, c: Float64Array, alpha: Float64Array, beta: Float64Array, rows: number, cols: number): void {
  for (let b = 0; b < rows; b++) {
    const o = b * cols;
    const a = alpha[b] as number;
    for (let k = 0; k < cols; k++) kernel[o + k] = Math.exp((c[o + k] as number) + a + (beta[k] as number));
  }
}

/** Column sums of diag(u) K, for the column step. */
function columnSums(kernel: Float64Array, u: Float64Array, colSums: Float64Array, rows: number, cols: number): void {
  colSums.fill(0);
  for (let b = 0; b < rows; b++) {
    const o = b * cols;
    const ub = u[b] as number;
    for (let k = 0; k < cols; k++) colSums[k] = (colSums[k] as number) + (kernel[o + k] as number) * ub;
  }
}
