/**
 * AdamW (the update rule of src/tensor/adamwUpdate.ts) over whole tf variables. The update runs
 * host-side over plain Float32Arrays: one JS loop per parameter instead of ~15 tf kernels each,
 * and the moments are ready to checkpoint. tf.train.adam has no weight decay.
 * The optimiser reads the parameters' values at its first update (after initialisation or a
 * restore) and from then on owns them: it keeps the host copy it writes and uploads, so nothing
 * else may assign the variables while it is in use.
 */
import { adamwStep, updateParameter } from '../tensor/adamwUpdate.js';
import type { AdamWMoments, AdamWOptions } from '../tensor/adamwUpdate.js';
import { tf } from '../tensor/backend.js';

export { clipScale, globalNorm } from '../tensor/adamwUpdate.js';
export type { AdamWMoments, AdamWOptions } from '../tensor/adamwUpdate.js';

export class AdamW {
  private m: Float32Array[];
  private v: Float32Array[];
  /** The parameters' current values, read at the first update. */
  private values: Float32Array[] | undefined;
  private steps = 0;

  constructor(
    private readonly params: readonly tf.Variable[],
    private readonly opts: AdamWOptions,
  ) {
    this.m = params.map((p) => new Float32Array(p.size));
    this.v = params.map((p) => new Float32Array(p.size));
  }

  get step(): number {
    return this.steps;
  }

  /** One update. `grads` align with the parameters; they are multiplied by `gradScale` first (clipping). */
  apply(grads: readonly Float32Array[], lr: number, gradScale = 1): void {
    if (grads.length !== this.params.length) throw new RangeError(`AdamW: ${grads.length} gradients for ${this.params.length} parameters`);
    this.steps++;
    const step = adamwStep(this.opts, this.steps, lr, gradScale);
    const values = (this.values ??= this.params.map((p) => (p.dataSync() as Float32Array).slice()));
    this.params.forEach((param, i) => {
      const g = grads[i]!;
      const m = this.m[i]!;
      const v = this.v[i]!;
      if (g.length !== param.size) throw new RangeError(`AdamW: gradient of ${g.length} values for a [${param.shape}] parameter`);
      const p = values[i]!;
      // A new array every step: the cpu backend keeps the array it is given as the tensor's storage.
      const next = new Float32Array(p.length);
      updateParameter(p, g, m, v, next, step);
      values[i] = next;
      tf.tidy(() => param.assign(tf.tensor(next, param.shape)));
    });
  }

  /** Copies of the moments, for a checkpoint. */
  moments(): AdamWMoments {
    return { step: this.steps, m: this.m.map((a) => a.slice()), v: this.v.map((a) => a.slice()) };
  }

  /** Restores moments saved by `moments()` for the same parameter list. */
  load(state: AdamWMoments): void {
    const check = (arrays: Float32Array[], what: string) => {
      if (arrays.length !== this.params.length) throw new RangeError(`AdamW: ${arrays.length} saved ${what} moments for ${this.params.length} parameters`);
      arrays.forEach((a, i) => {
        if (a.length !== this.params[i]!.size) throw new RangeError(`AdamW: saved ${what} moment of ${a.length} values for a [${this.params[i]!.shape}] parameter`);
      });
    };
    check(state.m, 'first');
    check(state.v, 'second');
    this.m = state.m.map((a) => a.slice());
    this.v = state.v.map((a) => a.slice());
    this.steps = state.step;
    this.values = undefined; // the parameters were restored too: read them again
  }
}
