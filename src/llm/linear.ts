/**
 * x @ W^T + b for a weight in torch layout W [out, in], the way nn.Linear stores it and the way
 * our weights Map holds it (HF names, HF shapes). On wasm only untransposed 2-D matMul is fast, so
 * one operand is transposed explicitly, whichever is cheaper to move:
 *   - W^T (in*out values): for many rows, e.g. a training batch;
 *   - x^T and the result (rows*(in+out) values): for few rows, e.g. one decoding step, where
 *     transposing the weights every step would cost more than the matMul itself.
 * Both paths are differentiable (src/tensor/ops.ts matMul) and give the same values.
 */
import { tf } from '../tensor/backend.js';
import { matMul } from '../tensor/ops.js';
import { transpose2d } from '../tensor/transpose.js';
import type { LinearFn } from './contract.js';

export function torchLinear(x: tf.Tensor2D, weight: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  const [rows, inX] = x.shape;
  const [out, inW] = weight.shape;
  if (inX !== inW) throw new RangeError(`torchLinear: input [${x.shape}] does not fit weight [${weight.shape}] (torch layout [out, in])`);
  return tf.tidy(() => {
    const y = rows * (inX + out) < inX * out ? transpose2d(matMul(weight, transpose2d(x))) : matMul(x, transpose2d(weight));
    return bias === undefined ? y : tf.add(y, bias);
  });
}

/**
 * The default LinearFn over a weights Map in HF layout: `module.weight` [out, in] and, when
 * present, `module.bias`. LoRA wrappers call it for the frozen base and add their update.
 */
export function hfLinear(weights: ReadonlyMap<string, tf.Tensor>): LinearFn {
  return (module, x) => {
    const w = weights.get(`${module}.weight`);
    if (!w) throw new RangeError(`no linear layer '${module}' (missing ${module}.weight)`);
    return torchLinear(x, w as tf.Tensor2D, weights.get(`${module}.bias`) as tf.Tensor1D | undefined);
  };
}
