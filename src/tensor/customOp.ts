/**
 * Differentiable ops with hand-written gradients whose input gradients are computed lazily.
 *
 * `tf.customGrad` evaluates the gradient of every input on every backward pass, even of inputs
 * that lead to no variable (the data batch fed to the first layer): for a 768-wide input that is
 * a wasted [1024 x 768 x 512] matMul per step. The engine's own kernels instead hand the tape one
 * thunk per input and backprop calls only the thunks on the path to a variable. `customOp` does
 * the same through `engine.runKernelFunc`, the method `tf.customGrad` itself calls in tfjs 4.x.
 * That method is private in the typings, so it is feature-detected; without it (or when
 * `setLazyGradients(false)`) the op falls back to `tf.customGrad`, same values, more work.
 *
 * Rules for `backward`: it may use only `dy`, the `saved` tensors and plain JS values. Tensors
 * captured from the forward by closure are disposed by tf.grads' forward tidy before backprop runs.
 */
import { tf } from './backend.js';

export type GradientThunks<I extends string> = Record<I, () => tf.Tensor>;

export interface CustomOpSpec<I extends string> {
  /** The differentiable inputs, by name. Non-tensor arguments are captured by closure. */
  inputs: Record<I, tf.Tensor>;
  /** Computes the output; `save` keeps tensors for backward (only when a tape records). */
  forward: (save: (tensors: tf.Tensor[]) => void) => tf.Tensor;
  /** One thunk per input: d(loss)/d(input) given d(loss)/d(output). */
  backward: (dy: tf.Tensor, saved: tf.Tensor[]) => GradientThunks<I>;
}

interface KernelFuncRunner {
  runKernelFunc(params: {
    forwardFunc: (backend: unknown, save?: (tensors: tf.Tensor[]) => void) => tf.Tensor;
    backwardsFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
    inputs: Record<string, tf.Tensor>;
  }): tf.Tensor;
}

let lazy = true;

/** Turns the engine-internal lazy path on or off (tests compare both); returns the old setting. */
export function setLazyGradients(enabled: boolean): boolean {
  const previous = lazy;
  lazy = enabled;
  return previous;
}

/** True when customOp uses the lazy engine path in this tfjs version. */
export function lazyGradientsActive(): boolean {
  return lazy && typeof (tf.engine() as unknown as Partial<KernelFuncRunner>).runKernelFunc === 'function';
}

export function customOp<I extends string>(spec: CustomOpSpec<I>): tf.Tensor {
  const engine = tf.engine() as unknown as Partial<KernelFuncRunner>;
  if (lazy && typeof engine.runKernelFunc === 'function') {
    return engine.runKernelFunc({
      forwardFunc: (_backend, save) => spec.forward(save ?? (() => {})),
      backwardsFunc: (dy, saved) => spec.backward(dy, saved),
      inputs: spec.inputs,
    });
  }
  const names = Object.keys(spec.inputs) as I[];
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args[args.length - 1] as (tensors: tf.Tensor[]) => void;
    return {
      value: spec.forward(save),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const thunks = spec.backward(dy, saved);
        return names.map((name) => thunks[name]());
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(...names.map((name) => spec.inputs[name]));
}
