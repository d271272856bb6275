/**
 * LoRA (Hu et al. 2021) as PEFT implements it: y = W x + (alpha / r) B A dropout(x), with A drawn
 * like PEFT's default (kaiming-uniform, a = sqrt(5): U(-1/sqrt(in), 1/sqrt(in))) and B = 0, so
 * training starts at the base model. Adapters plug into the model as a LinearFn (contract.ts):
 * every linear layer of the forward goes through it, targeted modules get the low-rank term.
 * Internally A is [in, r] and B is [r, out] (plain 2-D matMuls: wasm's fast path); PEFT stores
 * the transposes, lora_A.weight [r, in] and lora_B.weight [out, r], which saving writes.
 */
import { BadInputError } from '../errors.js';
import type { CausalLM, LinearFn } from '../llm/contract.js';
import { tf } from '../tensor/backend.js';
import { matMul } from '../tensor/ops.js';
import type { Rng } from '../tensor/rng.js';
import type { TrainableParam } from './params.js';

/**
 * How LoRA reaches the model's own linear layers: the base computation it wraps, and each
 * module's weight (to size adapters and to merge them). Weights are in HF layout, as the contract
 * requires: `<module>.weight` [out, in] (y = x W^T + b).
 */
export interface LinearAccess {
  base: LinearFn;
  weightName(module: string): string;
}

/**
 * The model's `defaultLinear` when it exposes one (src/llm's QwenModel does), else x W^T (+ b)
 * computed from the weights map with an explicit transpose (wasm's fast matMul path).
 */
export function linearAccessFor(model: CausalLM & { readonly defaultLinear?: LinearFn }): LinearAccess {
  const base: LinearFn =
    model.defaultLinear ??
    ((module, x) => {
      const w = model.weights.get(`${module}.weight`);
      if (!w) throw new Error(`no weight '${module}.weight' in the model`);
      const bias = model.weights.get(`${module}.bias`);
      return tf.tidy(() => {
        const y = matMul(x, tf.transpose(w as unknown as tf.Tensor2D));
        return bias ? tf.add(y, bias) : y;
      });
    });
  return { base, weightName: (module) => `${module}.weight` };
}

/** In and out width of a module ([out, in] weight). */
export function linearDims(model: CausalLM, access: LinearAccess, module: string): [number, number] {
  const w = model.weights.get(access.weightName(module));
  if (!w || w.rank !== 2) throw new Error(`linear module '${module}' has no 2-D weight '${access.weightName(module)}'`);
  const [out, inDim] = w.shape as [number, number];
  return [inDim, out];
}

/** PEFT's target matching: a module equal to the target or ending in `.<target>`. */
export function matchTargets(modules: readonly string[], targets: readonly string[]): string[] {
  const matched = new Set<string>();
  for (const target of targets) {
    const hits = modules.filter((m) => m === target || m.endsWith(`.${target}`));
    if (hits.length === 0) {
      const available = [...new Set(modules.map((m) => m.slice(m.lastIndexOf('.') + 1)))].sort();
      throw new BadInputError(`LoRA target module '${target}' matches no linear layer of the model; available: ${available.join(', ')}`, {
        field: 'finetune.lora.targets',
      });
    }
    for (const h of hits) matched.add(h);
  }
  return modules.filter((m) => matched.has(m));
}

export interface LoraConfig {
  rank: number;
  alpha: number;
  dropout: number;
  targets: readonly string[];
}

interface Adapter {
  module: string;
  inDim: number;
  outDim: number;
  a: tf.Variable; // [in, r]
  b: tf.Variable; // [r, out]
}

export class LoraAdapters {
  readonly modules: readonly string[];
  readonly scale: number;
  private readonly adapters = new Map<string, Adapter>();

  constructor(
    private readonly model: CausalLM,
    readonly access: LinearAccess,
    readonly config: LoraConfig,
    init: Rng,
  ) {
    this.modules = matchTargets(model.linearModules, config.targets);
    this.scale = config.alpha / config.rank;
    const r = config.rank;
    for (const module of this.modules) {
      const [inDim, outDim] = linearDims(model, access, module);
      const bound = 1 / Math.sqrt(inDim);
      const a = tf.variable(tf.tensor2d(init.fillUniform(new Float32Array(inDim * r), -bound, bound), [inDim, r]));
      const b = tf.variable(tf.zeros([r, outDim]));
      this.adapters.set(module, { module, inDim, outDim, a, b });
    }
  }

  /** Trainable parameters, two per targeted module, in module order. */
  params(): TrainableParam[] {
    return [...this.adapters.values()].flatMap(({ module, a, b }) => [
      { name: `lora.${module}.A`, variable: a },
      { name: `lora.${module}.B`, variable: b },
    ]);
  }

  /**
   * The LinearFn for one forward pass. `dropout` draws the masks (seeded per micro-batch, so a
   * resumed run draws the same ones); without it (evaluation) no dropout is applied.
   */
  linear(dropout?: Rng): LinearFn {
    const p = this.config.dropout;
    return (module, x) => {
      const base = this.access.base(module, x);
      const adapter = this.adapters.get(module);
      if (!adapter) return base;
      return tf.tidy(() => {
        let input = x;
        if (dropout && p > 0) {
          // Inverted dropout: keep with probability 1 - p, scale by 1 / (1 - p).
          const mask = new Float32Array(x.size);
          const threshold = p * 0x1_0000_0000;
          const keep = 1 / (1 - p);
          for (let i = 0; i < mask.length; i++) mask[i] = dropout.uint32() >= threshold ? keep : 0;
          input = tf.mul(x, tf.tensor2d(mask, x.shape as [number, number]));
        }
        const low = matMul(matMul(input, adapter.a as unknown as tf.Tensor2D), adapter.b as unknown as tf.Tensor2D);
        return tf.add(base, tf.mul(low, this.scale));
      });
    };
  }

  /** PEFT tensor names and values: lora_A.weight [r, in], lora_B.weight [out, r]. */
  peftTensors(): Map<string, { shape: number[]; data: Float32Array }> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const { module, a, b } of this.adapters.values()) {
      out.set(`base_model.model.${module}.lora_A.weight`, hostTransposed(a));
      out.set(`base_model.model.${module}.lora_B.weight`, hostTransposed(b));
    }
    return out;
  }

  /** A module's weight with the adapter merged in: W + scale (A B)^T, [out, in]. */
  mergedWeight(module: string): tf.Tensor2D {
    const adapter = this.adapters.get(module);
    const w = this.model.weights.get(this.access.weightName(module)) as unknown as tf.Tensor2D | undefined;
    if (!adapter || !w) throw new Error(`no LoRA adapter on '${module}'`);
    return tf.tidy(() => {
      const delta = tf.mul(matMul(adapter.a as unknown as tf.Tensor2D, adapter.b as unknown as tf.Tensor2D), this.scale); // [in, out]
      return tf.add(w, tf.transpose(delta)) as tf.Tensor2D;
    });
  }

  /**
   * Runs `fn` with the adapters merged into the model's weights (for code that runs the model
   * without a LinearFn, e.g. the beam search's sessions); the exact base values are restored after.
   */
  async withMerged<T>(fn: () => Promise<T>): Promise<T> {
    const saved = new Map<string, Float32Array>();
    try {
      for (const module of this.modules) {
        const name = this.access.weightName(module);
        const w = this.model.weights.get(name)!;
        saved.set(name, (w.dataSync() as Float32Array).slice());
        const merged = this.mergedWeight(module);
        w.assign(merged);
        merged.dispose();
      }
      return await fn();
    } finally {
      for (const [name, data] of saved) {
        const w = this.model.weights.get(name)!;
        tf.tidy(() => w.assign(tf.tensor(data, w.shape, 'float32')));
      }
    }
  }

  dispose(): void {
    for (const { a, b } of this.adapters.values()) {
      a.dispose();
      b.dispose();
    }
    this.adapters.clear();
  }
}

function hostTransposed(v: tf.Variable): { shape: number[]; data: Float32Array } {
  const [r, c] = v.shape as [number, number];
  const src = v.dataSync() as Float32Array;
  const data = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) data[j * r + i] = src[i * c + j]!;
  return { shape: [c, r], data };
}
