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
import type { KeptForBackward } from '../tensor/keptForBackward.js';
import type { LossScaling } from './settings.js';

/** The factor on each level's summed squared errors: 1/B (`sum`), or 1/(B * latentDim * levels) (`mean`). */
export function quantizationScale(scaling: LossScaling, batch: number, latentDim: number, levels: number): number {
  return scaling === 'sum' ? 1 / batch : 1 / (batch * latentDim * levels);
}

/**
 * Reconstruction loss of a batch: sum over dims then batch mean (`sum`), or the mean over all
 * elements (`mean`). One op (gradient 2 * scale * (x_hat - x)) instead of three taped kernels
 * that would each clone a [B, input] matrix. `kept` as for dense (layers.ts).
 */
export function reconstructionLoss(xHat: tf.Tensor2D, x: tf.Tensor2D, scaling: LossScaling, kept?: KeptForBackward): tf.Scalar {
  const [batch, dim] = x.shape;
  const scale = scaling === 'sum' ? 1 / batch : 1 / (batch * dim);
  let diff: tf.Tensor | undefined;
  return customOp({
    inputs: { xHat },
    forward: (save) => {
      diff = tf.sub(xHat, x);
      if (kept === undefined) save([diff]);
      else kept.keep(diff);
      return tf.mul(tf.sum(tf.square(diff)), scale);
    },
    backward: (dy, saved) => ({ xHat: () => tf.mul(kept === undefined ? saved[0]! : diff!, tf.mul(dy, 2 * scale)) }),
  }) as tf.Scalar;
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
