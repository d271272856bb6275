/**
 * AdamW, step for step as torch.optim.AdamW (the update rule of src/tensor/adamwUpdate.ts), generalised
 * to parameters of which only some rows train (params.ts): the moments cover the trainable
 * entries only, and only those entries are decayed and updated. Host-side over Float32Arrays: one
 * JS loop per parameter instead of ~15 tf kernels, and the moments are ready to checkpoint.
 * The optimiser reads the trainable values at its first update (after a restore, again) and then
 * owns them: nothing else may assign those entries while it is in use.
 */
import { adamwStep, updateParameter } from '../tensor/adamwUpdate.js';
import type { AdamWMoments, AdamWOptions } from '../tensor/adamwUpdate.js';
import { tf } from '../tensor/backend.js';
import type { TrainableParam } from './params.js';
import { sliceElements, takeSlice, trainableSize } from './params.js';

export type { AdamWMoments, AdamWOptions } from '../tensor/adamwUpdate.js';

export class SlicedAdamW {
  private m: Float32Array[];
  private v: Float32Array[];
  private readonly elements: Array<Int32Array | undefined>;
  /** Full host copies of the variables (row-sliced ones are written back whole). */
  private dense: Float32Array[] | undefined;
  private steps = 0;

  constructor(
    private readonly params: readonly TrainableParam[],
    private readonly opts: AdamWOptions,
  ) {
    this.m = params.map((p) => new Float32Array(trainableSize(p)));
    this.v = params.map((p) => new Float32Array(trainableSize(p)));
    this.elements = params.map((p) => sliceElements(p));
  }

  get step(): number {
    return this.steps;
  }

  /** One update; `grads` hold the trainable entries of each parameter, multiplied by `gradScale` first (clipping). */
  apply(grads: readonly Float32Array[], lr: number, gradScale = 1): void {
    if (grads.length !== this.params.length) throw new RangeError(`AdamW: ${grads.length} gradients for ${this.params.length} parameters`);
    this.steps++;
    const step = adamwStep(this.opts, this.steps, lr, gradScale);
    const dense = (this.dense ??= this.params.map((p) => (p.variable.dataSync() as Float32Array).slice()));
    this.params.forEach((param, i) => {
      const g = grads[i]!;
      const m = this.m[i]!;
      const v = this.v[i]!;
      if (g.length !== m.length) throw new RangeError(`AdamW: gradient of ${g.length} values for ${m.length} trainable entries of '${param.name}'`);
      const elements = this.elements[i];
      // A new array every step: the cpu backend keeps the array it is given as the tensor's storage.
      let next: Float32Array;
      if (elements === undefined) {
        next = new Float32Array(g.length);
        updateParameter(dense[i]!, g, m, v, next, step);
      } else {
        // Gather the trainable entries, update them, scatter them into a copy of the whole.
        const updated = new Float32Array(g.length);
        updateParameter(takeSlice(dense[i]!, elements), g, m, v, updated, step);
        next = dense[i]!.slice();
        for (let j = 0; j < elements.length; j++) next[elements[j]!] = updated[j]!;
      }
      dense[i] = next;
      tf.tidy(() => param.variable.assign(tf.tensor(next.slice(), param.variable.shape, 'float32')));
    });
  }

  /** Copies of the moments, for a checkpoint. */
  moments(): AdamWMoments {
    return { step: this.steps, m: this.m.map((a) => a.slice()), v: this.v.map((a) => a.slice()) };
  }

  /** Restores moments saved by `moments()` for the same parameter list; re-reads the values. */
  load(state: AdamWMoments): void {
    const check = (arrays: Float32Array[], what: string) => {
      if (arrays.length !== this.params.length) throw new RangeError(`AdamW: ${arrays.length} saved ${what} moments for ${this.params.length} parameters`);
      arrays.forEach((a, i) => {
        if (a.length !== this.m[i]!.length) throw new RangeError(`AdamW: saved ${what} moment of ${a.length} values for '${this.params[i]!.name}' (${this.m[i]!.length} trainable entries)`);
      });
    };
    check(state.m, 'first');
    check(state.v, 'second');
    this.m = state.m.map((a) => a.slice());
    this.v = state.v.map((a) => a.slice());
    this.steps = state.step;
    this.dense = undefined;
  }

  /** Forget the host copies (after someone else wrote the variables, e.g. loading the best epoch). */
  resync(): void {
    this.dense = undefined;
  }
}

/** The trainable entries of a dense gradient, in the parameter's saved order. */
export function gradientSlice(param: TrainableParam, dense: Float32Array, elements = sliceElements(param)): Float32Array {
  return takeSlice(dense, elements);
}
