/**
 * Residual quantisation (spec C.1) in two parts:
 * 1. `assignCodes`: level by level, code_l = argmin_k ||r_{l-1} - e_k||^2 (or the balanced Sinkhorn
 *    assignment on the last level, sinkhornScaling.ts), r_l = r_{l-1} - e_{code_l}. Codes are constants for the
 *    gradient, so this runs off the gradient tape (nothing saved, nothing cloned).
 * 2. `quantizationLoss`: sum over levels of ||sg(r_{l-1}) - q_l||^2 + beta ||r_{l-1} - sg(q_l)||^2,
 *    as one op with its gradient written out. With the straight-through residuals of both sources
 *    (r_l = r_{l-1} - STE(q_l), whose derivative w.r.t. r_{l-1} is I - I = 0), autodiff gives:
 *      d/dz    = 2 beta r_1            only level 0's commitment reaches the encoder
 *      d/de_k  = sum over items b with code_l(b) = k of  -2 r_l[b]      (codebook term of level l)
 *    where r_l = r_{l-1} - q_l. test/unit/rqvaeModel.test.ts checks this against autodiff of the
 *    literal formula.
 * The decoder input is z_q = STE(z, sum_l q_l): the value of the codewords, the gradient of z.
 */
import { tf } from '../tensor/backend.js';
import { customOp } from '../tensor/customOp.js';
import { argMinRows } from '../tensor/ops.js';
import { sinkhornAssignScaling } from './sinkhornScaling.js';

/** The balanced Sinkhorn-Knopp assignment of the last level (spec C.2): training only. */
export interface BalancedLastLevel {
  epsilon: number;
  iterations: number;
}

export interface CodeAssignment {
  /** codes[l][b]: code of item b at level l. */
  codes: Int32Array[];
  /** sum_l q_l [B, D]: the quantised latent (value only). */
  quantized: tf.Tensor2D;
  /** r_1 .. r_L [B, D] row-major on the host: what each level leaves over. */
  residuals: Float32Array[];
}

/**
 * Host-side gathers and residual updates ([B, D] with D = 64 is tiny: wasm's Gather kernel took
 * ~2 ms per level); the engine only computes one [B, K] matMul per level (`codebookScores`).
 */
export function assignCodes(z: tf.Tensor2D, codebooks: readonly tf.Tensor2D[], balancedLast?: BalancedLastLevel): CodeAssignment {
  const [batch, dim] = z.shape;
  const codes: Int32Array[] = [];
  const residuals: Float32Array[] = [];
  const sum = new Float32Array(batch * dim);
  let residual = z.dataSync() as Float32Array; // read only
  codebooks.forEach((codebook, level) => {
    const table = codebook.dataSync() as Float32Array;
    const size = codebook.shape[0];
    const code =
      balancedLast && level === codebooks.length - 1
        ? sinkhornAssignScaling(squaredDistancesTo(residual, table, dim), batch, size, balancedLast.epsilon, balancedLast.iterations)
        : nearestCodes(residual, table, dim);
    const next = subtractCodewords(residual, table, code, dim, sum);
    codes.push(code);
    residuals.push(next);
    residual = next;
  });
  return { codes, quantized: tf.tensor2d(sum, [batch, dim]), residuals };
}

/** r - e_code per row (the next residual); adds e_code to `sum`. A function of its own: V8 optimises its loop. */
function subtractCodewords(residual: Float32Array, table: Float32Array, code: Int32Array, dim: number, sum: Float32Array): Float32Array {
  const next = new Float32Array(residual.length);
  for (let b = 0; b < code.length; b++) {
    const from = code[b]! * dim;
    const row = b * dim;
    for (let j = 0; j < dim; j++) {
      const q = table[from + j]!;
      next[row + j] = residual[row + j]! - q;
      sum[row + j] = sum[row + j]! + q;
    }
  }
  return next;
}

/** argmin_k ||r_b - e_k||^2 for each row of `points` [B, D] (host) and codebook `table` [K, D] (host). */
function nearestCodes(points: Float32Array, table: Float32Array, dim: number): Int32Array {
  const scores = codebookScores(points, table, dim);
  try {
    return argMinRows(scores); // ||r_b||^2 is the same for every k of row b: not needed
  } finally {
    scores.dispose();
  }
}

/**
 * ||r_b - e_k||^2 [B, K] row-major for points [B, D] and a codebook table [K, D], both on the host:
 * the cost matrix of the Sinkhorn assignment and of collision repair.
 */
export function squaredDistancesTo(points: Float32Array, table: Float32Array, dim: number): Float64Array {
  const rows = points.length / dim;
  const size = table.length / dim;
  const scores = codebookScores(points, table, dim);
  const partial = scores.dataSync() as Float32Array;
  scores.dispose();
  const out = new Float64Array(rows * size);
  for (let b = 0; b < rows; b++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) norm += points[b * dim + j]! * points[b * dim + j]!;
    for (let k = 0; k < size; k++) out[b * size + k] = norm + partial[b * size + k]!;
  }
  return out;
}

/**
 * ||e_k||^2 - 2 r_b . e_k for every point and code, as ONE matMul of [r | 1] [B, D+1] by
 * [-2 E^T ; ||e||^2] [D+1, K], both built here on the host: no Transpose, Square, Sum or
 * broadcast kernels (each a pass over a [B, K] or [K, D] matrix), and off the gradient tape.
 */
function codebookScores(points: Float32Array, table: Float32Array, dim: number): tf.Tensor2D {
  const rows = points.length / dim;
  const size = table.length / dim;
  const width = dim + 1;
  const left = new Float32Array(rows * width);
  for (let b = 0; b < rows; b++) {
    left.set(points.subarray(b * dim, (b + 1) * dim), b * width);
    left[b * width + dim] = 1;
  }
  const right = new Float32Array(width * size);
  for (let k = 0; k < size; k++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const e = table[k * dim + j]!;
      right[j * size + k] = -2 * e;
      norm += e * e;
    }
    right[dim * size + k] = norm;
  }
  return offTape(() => tf.matMul(tf.tensor2d(left, [rows, width]), tf.tensor2d(right, [width, size])));
}

/**
 * Codebook + beta * commitment losses of all levels for an assignment of z, each squared error
 * summed over the batch and dims, times `scale` (1/B for genrec's per-item sums, 1/(B*D*L) for
 * the official per-element means averaged over levels). Both terms have the value ||r_l||^2.
 */
export function quantizationLoss(z: tf.Tensor2D, codebooks: readonly tf.Variable<tf.Rank.R2>[], assignment: CodeAssignment, beta: number, scale: number): tf.Scalar {
  const { codes, residuals } = assignment;
  const inputs: Record<string, tf.Tensor> = { z };
  codebooks.forEach((c, l) => (inputs[`codebook${l}`] = c));
  let squares = 0;
  for (const r of residuals) squares = addSquares(squares, r);
  return customOp({
    inputs,
    forward: () => tf.scalar(squares * scale * (1 + beta)),
    backward: (dy) => {
      const upstream = dy.dataSync()[0] as number;
      const thunks: Record<string, () => tf.Tensor> = {
        z: () => tf.mul(tf.tensor2d(residuals[0]!, z.shape), 2 * scale * beta * upstream),
      };
      codebooks.forEach((codebook, l) => {
        thunks[`codebook${l}`] = () => scatterRows(codebook.shape, codes[l]!, residuals[l]!, -2 * scale * upstream);
      });
      return thunks;
    },
  }) as tf.Scalar;
}

/** sum + r[0]^2 + r[1]^2 + ... in that order. */
function addSquares(sum: number, r: Float32Array): number {
  let s = sum;
  for (let j = 0; j < r.length; j++) s += r[j]! * r[j]!;
  return s;
}

/** [rows, cols] zeros with factor * values[b] added to row index[b] (JS: wasm lacks UnsortedSegmentSum). */
function scatterRows(shape: [number, number], index: Int32Array, values: Float32Array, factor: number): tf.Tensor2D {
  const [rows, cols] = shape;
  const out = new Float32Array(rows * cols);
  for (let b = 0; b < index.length; b++) {
    const to = index[b]! * cols;
    const from = b * cols;
    for (let j = 0; j < cols; j++) out[to + j] = out[to + j]! + factor * values[from + j]!;
  }
  return tf.tensor2d(out, [rows, cols]);
}

/** Runs `fn` without recording its kernels on the gradient tape; its result carries no gradient. */
function offTape(fn: () => tf.Tensor2D): tf.Tensor2D {
  return customOp({ inputs: {}, forward: () => fn(), backward: () => ({}) }) as tf.Tensor2D;
}
