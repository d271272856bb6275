/**
 * Training primitives that run fast and differentiate on the wasm backend (platform notes):
 * - XNNPACK serves only plain 2-D matMuls: a transposeA/B flag or a batched matMul is 10-40x
 *   slower, and tfjs's own matMul gradient uses the flags. `matMul` transposes explicitly instead
 *   (gradients.ts does the same for tf.matMul), and skips gradients no variable needs.
 * - wasm has no UnsortedSegmentSum, which tfjs's tf.gather gradient needs: `gatherRows`
 *   scatter-adds in JS (so does gradients.ts for tf.gather).
 * - tfjs has no stopGradient: `straightThrough` is a custom op.
 * All take and return tf tensors of the shared engine and, like tf ops, leave disposal to the
 * caller (wrap steps in tf.tidy).
 */
import { tf } from './backend.js';
import { customOp } from './customOp.js';
import { sinkhornAssign } from './sinkhorn.js';
import { transpose2d } from './transpose.js';

export { centerCosts, sinkhornAssign } from './sinkhorn.js';

/** a [m,k] x b [k,n] -> [m,n]; forward and backward issue only untransposed 2-D matMuls. */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (a.rank !== 2 || b.rank !== 2 || a.shape[1] !== b.shape[0]) {
    throw new RangeError(`matMul: cannot multiply [${a.shape}] by [${b.shape}]`);
  }
  return customOp({
    inputs: { a, b },
    forward: (save) => {
      save([a, b]);
      return tf.matMul(a, b);
    },
    backward: (dy, saved) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      return {
        a: () => tf.matMul(dy as tf.Tensor2D, transpose2d(sb)), // dA = dy . B^T
        b: () => tf.matMul(transpose2d(sa), dy as tf.Tensor2D), // dB = A^T . dy
      };
    },
  }) as tf.Tensor2D;
}

/**
 * x [n,in] . w [in,out] (+ bias [out]). Weights are stored [in, out], the transpose of a PyTorch
 * nn.Linear weight: transpose once when loading a torch checkpoint, not at every step.
 */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const y = matMul(x, w);
    return bias === undefined ? y : tf.add(y, bias);
  });
}

/** SiLU (x * sigmoid x), the activation of genrec's RQ-VAE MLPs. */
export function silu<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)) as T);
}

/**
 * table[indices] for an embedding table or codebook. Indices are plain ints (never a tensor that
 * came out of argMin: that tape path breaks the gradient). The gradient w.r.t. the table
 * scatter-adds the rows of dy in JS, because wasm lacks UnsortedSegmentSum.
 */
export function gatherRows(table: tf.Tensor2D, indices: Int32Array | readonly number[]): tf.Tensor2D {
  if (table.rank !== 2) throw new RangeError(`gatherRows: table must be 2-D, got [${table.shape}]`);
  const [rows, cols] = table.shape;
  const idx = Int32Array.from(indices);
  for (let i = 0; i < idx.length; i++) {
    if (idx[i] !== indices[i] || (idx[i] as number) < 0 || (idx[i] as number) >= rows) {
      throw new RangeError(`gatherRows: index ${i} is ${indices[i]}, outside 0..${rows - 1}`);
    }
  }
  return customOp({
    inputs: { table },
    forward: () => tf.gather(table, tf.tensor1d(idx, 'int32')),
    backward: (dy) => ({
      table: () => {
        const grad = new Float32Array(rows * cols);
        const d = dy.dataSync() as Float32Array;
        for (let i = 0; i < idx.length; i++) {
          const to = (idx[i] as number) * cols;
          const from = i * cols;
          for (let j = 0; j < cols; j++) grad[to + j] = (grad[to + j] as number) + (d[from + j] as number);
        }
        return tf.tensor2d(grad, [rows, cols]);
      },
    }),
  }) as tf.Tensor2D;
}

/** Straight-through estimator: the value of q, the gradient of x (identity); q gets none. */
export function straightThrough<T extends tf.Tensor>(x: T, q: T): T {
  if (!tf.util.arraysEqual(x.shape, q.shape)) throw new RangeError(`straightThrough: shapes [${x.shape}] and [${q.shape}] differ`);
  return customOp({
    inputs: { x, q },
    // A clone, not q itself: the output must be a tensor of its own or the tape would also route
    // this output's gradient into q's producer.
    forward: () => tf.clone(q),
    backward: (dy) => ({ x: () => tf.clone(dy), q: () => tf.zerosLike(dy) }),
  }) as T;
}

/** ||x_i - c_j||^2 for x [n,d] and codebook [k,d] -> [n,k], as ||x||^2 + ||c||^2 - 2 x.c^T (spec C.2 step 1). */
export function squaredDistances(x: tf.Tensor2D, codebook: tf.Tensor2D): tf.Tensor2D {
  if (x.rank !== 2 || codebook.rank !== 2 || x.shape[1] !== codebook.shape[1]) {
    throw new RangeError(`squaredDistances: x [${x.shape}] and codebook [${codebook.shape}] must be [n,d] and [k,d]`);
  }
  return tf.tidy(() => {
    const xx = tf.sum(tf.square(x), 1, true); // [n,1]
    const cc = tf.reshape(tf.sum(tf.square(codebook), 1), [1, codebook.shape[0]]); // [1,k]
    const xc = matMul(x, transpose2d(codebook)); // explicit transpose: XNNPACK path
    return tf.sub(tf.add(xx, cc), tf.mul(xc, 2)) as tf.Tensor2D;
  });
}

/** Index of the smallest value in each row, as a fresh Int32Array (no tape path, see gatherRows). */
export function argMinRows(dist: tf.Tensor2D): Int32Array {
  const t = tf.argMin(dist, 1);
  try {
    return new Int32Array(t.dataSync());
  } finally {
    t.dispose();
  }
}

/**
 * Balanced code assignment for a cost matrix [n,k] (the last RQ-VAE level): official centring to
 * [-1,1], log-domain Sinkhorn in float64 (see sinkhorn.ts), argmax per row. No gradient.
 */
export function sinkhorn(cost: tf.Tensor2D, epsilon: number, iterations: number): Int32Array {
  if (cost.rank !== 2) throw new RangeError(`sinkhorn: cost must be 2-D, got [${cost.shape}]`);
  return sinkhornAssign(cost.dataSync(), cost.shape[0], cost.shape[1], epsilon, iterations);
}
