/**
 * Loss scalings of spec C.1 / K.10:
 *  `sum`  (genrec):   mean over the batch of [ sum_dim (x_hat - x)^2 + sum_levels level loss ],
 *                     level loss = sum_dim (sg(r) - q)^2 + beta sum_dim (r - sg(q))^2
 *  `mean` (official): mse(x_hat, x) + quantLossWeight * mean_levels [ mse(q, sg(r)) + beta mse(sg(q), r) ],
 *                     every mse a mean over all B x D elements
 * The level losses themselves are in quantizer.ts; this file holds the factors and the
 * reconstruction term.
 */
import { tf } from '../tensor/backend.js';
import { customOp } from '../tensor/customOp.js';
import type { LossScaling } from './settings.js';

/** The factor on each level's summed squared errors: 1/B (`sum`), or 1/(B * latentDim * levels) (`mean`). */
export function quantizationScale(scaling: LossScaling, batch: number, latentDim: number, levels: number): number {
  return scaling === 'sum' ? 1 / batch : 1 / (batch * latentDim * levels);
}

/**
 * Reconstruction loss of a batch: sum over dims then batch mean (`sum`), or the mean over all
 * elements (`mean`). One op (gradient 2 * scale * (x_hat - x)) instead of three taped kernels
 * that would each clone a [B, input] matrix.
 */
export function reconstructionLoss(xHat: tf.Tensor2D, x: tf.Tensor2D, scaling: LossScaling): tf.Scalar {
  const [batch, dim] = x.shape;
  const scale = scaling === 'sum' ? 1 / batch : 1 / (batch * dim);
  return customOp({
    inputs: { xHat },
    forward: (save) => {
      const diff = tf.sub(xHat, x);
      save([diff]);
      return tf.mul(tf.sum(tf.square(diff)), scale);
    },
    backward: (dy, [diff]) => ({ xHat: () => tf.mul(diff!, tf.mul(dy, 2 * scale)) }),
  }) as tf.Scalar;
}

/** The decoder output scaled to unit rows (genrec's F.normalize, norm clamped at 1e-12) and the reconstruction loss of it. */
export interface NormalizedReconstruction {
  /** out / max(||out||, 1e-12) per row: the value only (the gradient flows through `loss`). */
  xHat: tf.Tensor2D;
  loss: tf.Scalar;
}

/**
 * reconstructionLoss(l2Normalize(out), x) as one op computed on the host in one pass per row:
 *   y = out / n with n = max(||out||, 1e-12),  loss = scale * sum (y - x)^2
 *   d loss / d out = (g - y <g, y>) / n with g = 2 scale (y - x)   (g / n where the norm is clamped)
 * The gradient is known in the forward (the loss is the end of the graph, up to a scalar factor),
 * so backward only scales it. In tf kernels this was ~11 passes over [B, input] matrices (plus
 * clones of y and y - x for the backward); here it is one download of `out`, one of `x` and JS.
 */
export function normalizedReconstructionLoss(out: tf.Tensor2D, x: tf.Tensor2D, scaling: LossScaling): NormalizedReconstruction {
  const [batch, dim] = x.shape;
  if (out.shape[0] !== batch || out.shape[1] !== dim) throw new RangeError(`reconstruction: output [${out.shape}] and input [${x.shape}] differ`);
  const scale = scaling === 'sum' ? 1 / batch : 1 / (batch * dim);
  const o = out.dataSync() as Float32Array;
  const target = x.dataSync() as Float32Array;
  const y = new Float32Array(batch * dim);
  const gradient = new Float32Array(batch * dim);
  const g = new Float64Array(dim);
  let squares = 0;
  for (let b = 0; b < batch; b++) {
    const row = b * dim;
    let norm2 = 0;
    for (let j = 0; j < dim; j++) norm2 += o[row + j]! * o[row + j]!;
    const clamped = Math.sqrt(norm2) < 1e-12;
    const inverse = 1 / Math.max(Math.sqrt(norm2), 1e-12);
    let dot = 0;
    for (let j = 0; j < dim; j++) {
      const yj = o[row + j]! * inverse;
      const d = yj - target[row + j]!;
      y[row + j] = yj;
      squares += d * d;
      g[j] = 2 * scale * d;
      dot += g[j]! * yj;
    }
    // Where the norm is clamped the map is linear (out * 1e12): no projection.
    const projection = clamped ? 0 : dot;
    for (let j = 0; j < dim; j++) gradient[row + j] = (g[j]! - y[row + j]! * projection) * inverse;
  }
  const loss = customOp({
    inputs: { out },
    forward: () => tf.scalar(squares * scale),
    backward: (dy) => ({ out: () => tf.mul(tf.tensor2d(gradient, [batch, dim]), dy) }),
  }) as tf.Scalar;
  return { xHat: tf.tensor2d(y, [batch, dim]), loss };
}

/**
 * Per-item reconstruction error in the training loss's units (sum over dims, or mean over dims),
 * so an evaluation's average equals the training recon loss on the same items.
 */
export function reconstructionErrors(xHat: tf.Tensor2D, x: tf.Tensor2D, scaling: LossScaling): tf.Tensor1D {
  return tf.tidy(() => {
    const perItem = tf.sum(tf.square(tf.sub(xHat, x)), 1);
    return (scaling === 'sum' ? perItem : tf.div(perItem, x.shape[1])) as tf.Tensor1D;
  });
}
