/**
 * The MLP pieces of the RQ-VAE as single differentiable ops with hand-written gradients. Built
 * from tf ops they cost ~2x the kernels: tfjs clones every input a kernel saves for its gradient
 * (a 1024 x 768 activation: 3 MB per clone), and SiLU alone is four taped kernels. Same maths:
 *   dense:        pre = x.W (+ b);  y = act(pre)
 *                 dpre = dy * act'(pre);  dx = dpre.W^T;  dW = x^T.dpre;  db = sum_rows dpre
 *                 SiLU' = s (1 + pre (1 - s)) = s + y (1 - s) with s = sigmoid(pre);  ReLU' = step(pre)
 *   l2Normalize:  y = x / max(||x||, 1e-12) per row (torch F.normalize)
 *                 dx = (dy - y * <dy, y>) / ||x||   (dx = dy / 1e-12 where the norm is clamped)
 * Matrix products transpose explicitly (XNNPACK serves only plain 2-D matMuls on wasm), through
 * transpose2d (tensor/transpose.ts: tfjs-wasm's 2-D Transpose is ~7x slower on a batch of 1024).
 */
import { tf } from '../tensor/backend.js';
import { customOp } from '../tensor/customOp.js';
import type { KeptForBackward } from '../tensor/keptForBackward.js';
import { transpose2d } from '../tensor/transpose.js';
import type { Activation } from './settings.js';

export type LayerActivation = Activation | 'none';

/**
 * act(x.W + b). `weight` and `bias` should be variables: the backward reads them by closure, which
 * is safe because a variable outlives the forward's tidy and the optimiser changes it only after
 * the gradients are taken (saving them would clone every weight every step).
 * With `kept` (a training step), what the backward needs is kept instead of saved (no clones),
 * and so is the output, which the next layer then reads without a clone either.
 */
export function dense(
  x: tf.Tensor2D,
  weight: tf.Variable<tf.Rank.R2>,
  bias: tf.Variable<tf.Rank.R1> | undefined,
  activation: LayerActivation,
  kept?: KeptForBackward,
): tf.Tensor2D {
  if (x.shape[1] !== weight.shape[0]) throw new RangeError(`dense: input [${x.shape}] does not fit weight [${weight.shape}]`);
  const inputs: Record<string, tf.Tensor> = { x, weight };
  if (bias) inputs['bias'] = bias;
  const keepX = kept !== undefined && kept.holds(x);
  let forBackward: tf.Tensor[] = [];
  return customOp({
    inputs,
    forward: (save) => {
      const product = tf.matMul(x, weight);
      const pre = bias ? tf.add(product, bias) : product;
      let y: tf.Tensor;
      switch (activation) {
        case 'silu': {
          const s = tf.sigmoid(pre);
          y = tf.mul(pre, s);
          forBackward = [s, y]; // SiLU' = s + y (1 - s): no sigmoid to recompute
          break;
        }
        case 'relu':
          y = tf.relu(pre);
          forBackward = [pre];
          break;
        case 'none':
          y = pre;
          forBackward = [];
      }
      if (kept === undefined) save([x, ...forBackward]);
      else {
        for (const t of [...forBackward, y]) kept.keep(t);
        if (!keepX) save([x]);
      }
      return y;
    },
    backward: (dy, saved) => {
      const sx = (kept === undefined || !keepX ? saved[0] : x) as tf.Tensor2D;
      const activations = kept === undefined ? saved.slice(1) : forBackward;
      // Shared by every input's gradient; lives until the backward pass ends.
      const dpre = activationGradient(dy, activations, activation);
      const thunks: Record<string, () => tf.Tensor> = {
        x: () => tf.matMul(dpre, transpose2d(weight)),
        weight: () => tf.matMul(transpose2d(sx), dpre),
      };
      // Rows summed along the inner axis: tfjs-wasm's Sum over axis 0 transposes through the slow 2-D kernel.
      if (bias) thunks['bias'] = () => tf.sum(transpose2d(dpre as tf.Tensor2D), 1);
      return thunks;
    },
  }) as tf.Tensor2D;
}

/** dy * act'(pre) from what the forward saved: [] (none), [pre] (relu) or [s, y] (silu). */
function activationGradient(dy: tf.Tensor, kept: tf.Tensor[], activation: LayerActivation): tf.Tensor {
  switch (activation) {
    case 'none':
      return dy;
    case 'relu':
      return tf.mul(dy, tf.step(kept[0]!));
    case 'silu': {
      const [s, y] = kept as [tf.Tensor, tf.Tensor];
      return tf.mul(dy, tf.add(s, tf.sub(y, tf.mul(y, s))));
    }
  }
}

/** Rows scaled to unit L2 norm, as torch F.normalize(x, dim=-1) (norm clamped at 1e-12); `kept` as for dense. */
export function l2Normalize(x: tf.Tensor2D, kept?: KeptForBackward): tf.Tensor2D {
  let forBackward: tf.Tensor[] = [];
  return customOp({
    inputs: { x },
    forward: (save) => {
      const inverseNorm = tf.rsqrt(tf.maximum(tf.sum(tf.square(x), 1, true), 1e-24));
      const y = tf.mul(x, inverseNorm);
      forBackward = [y, inverseNorm];
      if (kept === undefined) save(forBackward);
      else for (const t of forBackward) kept.keep(t);
      return y;
    },
    backward: (dy, saved) => {
      const [y, inverseNorm] = kept === undefined ? saved : forBackward;
      return {
        x: () => {
          // Where the norm was clamped the map is linear (x * 1e12): mask the projection there.
          const unclamped = tf.cast(tf.less(inverseNorm!, 1e12), 'float32');
          const projection = tf.mul(y!, tf.mul(tf.sum(tf.mul(dy, y!), 1, true), unclamped));
          return tf.mul(tf.sub(dy, projection), inverseNorm!);
        },
      };
    },
  }) as tf.Tensor2D;
}
