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
 * Speed: ~0.4 ms per iteration at 1024 x 256. The sweeps live in small functions of their own (V8
 * optimises them fully, not as an on-stack replacement inside one long function) and take eight
 * rows at a time, so v[k] and colSums[k] are loaded once per eight rows. The additions keep the
 * order of a one-row-at-a-time loop, so the result is bit for bit that of the simple loop.
 */
import { argmaxWithColumnOffsets, costCentring, sinkhornAssign } from '../tensor/sinkhorn.js';

/** Scalings beyond e^+-ABSORB are folded into the potentials (K recomputed: one exp pass). */
const ABSORB = 100;
const HIGH = Math.exp(ABSORB);
const LOW = Math.exp(-ABSORB);

/** Code of each row of a row-major [rows, cols] cost matrix (squared distances). */
export function sinkhornAssignScaling(cost: ArrayLike<number>, rows: number, cols: number, epsilon: number, iterations: number): Int32Array {
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
  const kernel = new Float64Array(rows * cols);
  const u = new Float64Array(rows).fill(1);
  const v = new Float64Array(cols).fill(1);
  const colSums = new Float64Array(cols);

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
    rowStepWithColumnSums(kernel, v, u, colSums, rows, cols, 1 / rows);
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

/**
 * The row step u[b] = rowTarget / sum_k K[b,k] v[k], fused with the column sums of diag(u) K that
 * the column step needs: one pass over the kernel, eight rows at a time.
 */
function rowStepWithColumnSums(kernel: Float64Array, v: Float64Array, u: Float64Array, colSums: Float64Array, rows: number, cols: number, rowTarget: number): void {
  colSums.fill(0);
  let b = 0;
  for (; b + 7 < rows; b += 8) {
    const o0 = b * cols;
    const o1 = o0 + cols;
    const o2 = o1 + cols;
    const o3 = o2 + cols;
    const o4 = o3 + cols;
    const o5 = o4 + cols;
    const o6 = o5 + cols;
    const o7 = o6 + cols;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    let s5 = 0;
    let s6 = 0;
    let s7 = 0;
    for (let k = 0; k < cols; k++) {
      const vk = v[k] as number;
      s0 += (kernel[o0 + k] as number) * vk;
      s1 += (kernel[o1 + k] as number) * vk;
      s2 += (kernel[o2 + k] as number) * vk;
      s3 += (kernel[o3 + k] as number) * vk;
      s4 += (kernel[o4 + k] as number) * vk;
      s5 += (kernel[o5 + k] as number) * vk;
      s6 += (kernel[o6 + k] as number) * vk;
      s7 += (kernel[o7 + k] as number) * vk;
    }
    const u0 = rowTarget / s0;
    const u1 = rowTarget / s1;
    const u2 = rowTarget / s2;
    const u3 = rowTarget / s3;
    const u4 = rowTarget / s4;
    const u5 = rowTarget / s5;
    const u6 = rowTarget / s6;
    const u7 = rowTarget / s7;
    u[b] = u0;
    u[b + 1] = u1;
    u[b + 2] = u2;
    u[b + 3] = u3;
    u[b + 4] = u4;
    u[b + 5] = u5;
    u[b + 6] = u6;
    u[b + 7] = u7;
    // Left to right: the same additions, in the same order, as one row at a time.
    for (let k = 0; k < cols; k++) {
      colSums[k] =
        (colSums[k] as number) +
        (kernel[o0 + k] as number) * u0 +
        (kernel[o1 + k] as number) * u1 +
        (kernel[o2 + k] as number) * u2 +
        (kernel[o3 + k] as number) * u3 +
        (kernel[o4 + k] as number) * u4 +
        (kernel[o5 + k] as number) * u5 +
        (kernel[o6 + k] as number) * u6 +
        (kernel[o7 + k] as number) * u7;
    }
  }
  for (; b < rows; b++) {
    const o = b * cols;
    let s = 0;
    for (let k = 0; k < cols; k++) s += (kernel[o + k] as number) * (v[k] as number);
    const ub = rowTarget / s;
    u[b] = ub;
    for (let k = 0; k < cols; k++) colSums[k] = (colSums[k] as number) + (kernel[o + k] as number) * ub;
  }
}
