/**
 * A small causal LM honouring src/llm/contract.ts, for the trainer's tests: embedding, a causal
 * "previous token" mix, an MLP of two linear layers named like HF modules (stored [out, in] as
 * PyTorch does, non-square so a layout mix-up shows), a residual, and a tied or untied head.
 * Real tfjs ops, differentiable; its sessions recompute the full forward (no cache), which is
 * slow but exactly the same function.
 */
import type { CausalLM, ForwardOptions, LinearFn } from '../../src/llm/contract.js';
import type { DecodeSession, SessionFactory } from '../../src/search/decodeSession.js';
import { tf } from '../../src/tensor/backend.js';
import { gatherRows, matMul } from '../../src/tensor/ops.js';
import { Rng } from '../../src/tensor/rng.js';

export const UP = 'model.layers.0.mlp.up_proj';
export const DOWN = 'model.layers.0.mlp.down_proj';

let instances = 0;

export class FakeCausalLM implements CausalLM {
  readonly linearModules = [UP, DOWN] as const;
  readonly weights: Map<string, tf.Variable>;
  readonly sessions: SessionFactory;

  constructor(
    readonly vocabSize: number,
    readonly hiddenSize: number,
    seed: number,
    readonly tied = true,
  ) {
    const rng = new Rng(seed);
    const id = instances++;
    const v = (name: string, shape: [number, number], std: number) =>
      tf.variable(tf.tensor2d(rng.fillNormal(new Float32Array(shape[0] * shape[1]), 0, std), shape), true, `fake${id}/${name}`);
    const h = hiddenSize;
    this.weights = new Map([
      ['model.embed_tokens.weight', v('embed', [vocabSize, h], 0.5)],
      [`${UP}.weight`, v('up', [2 * h, h], 1 / Math.sqrt(h))],
      [`${DOWN}.weight`, v('down', [h, 2 * h], 1 / Math.sqrt(2 * h))],
    ]);
    if (!tied) this.weights.set('lm_head.weight', v('head', [vocabSize, h], 0.5));
    this.sessions = { start: async (prompts) => new FakeSession(this, prompts.map((p) => Array.from(p))) };
  }

  /** The model's own linear: y = x W^T, W stored [out, in]. */
  readonly defaultLinear: LinearFn = (module, x) => matMul(x, tf.transpose(this.weights.get(`${module}.weight`)! as unknown as tf.Tensor2D));

  hidden(ids: Int32Array, batch: number, seq: number, opts: ForwardOptions = {}): tf.Tensor2D {
    const linear = opts.linear ?? this.defaultLinear;
    return tf.tidy(() => {
      const emb = gatherRows(this.weights.get('model.embed_tokens.weight')! as unknown as tf.Tensor2D, ids);
      // Causal mix: each position adds half of the previous position's embedding (none at t = 0).
      const prevIndex: number[] = [];
      const mask: number[] = [];
      for (let b = 0; b < batch; b++) {
        for (let t = 0; t < seq; t++) {
          prevIndex.push(b * seq + Math.max(0, t - 1));
          mask.push(t > 0 ? 0.5 : 0);
        }
      }
      const prev = tf.mul(gatherRows(emb, prevIndex), tf.tensor2d(mask, [batch * seq, 1]));
      const x = tf.add(emb, prev) as tf.Tensor2D;
      const up = tf.tanh(linear(UP, x)) as tf.Tensor2D;
      return tf.add(x, linear(DOWN, up)) as tf.Tensor2D;
    });
  }

  headLogits(hidden: tf.Tensor2D, tokenIds?: Int32Array, _opts?: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => {
      const table = this.weights.get(this.tied ? 'model.embed_tokens.weight' : 'lm_head.weight')! as unknown as tf.Tensor2D;
      const rows = tokenIds ? gatherRows(table, tokenIds) : table;
      return matMul(hidden, tf.transpose(rows));
    });
  }

  dispose(): void {
    for (const w of this.weights.values()) w.dispose();
  }
}

class FakeSession implements DecodeSession {
  constructor(
    private readonly model: FakeCausalLM,
    private seqs: number[][],
  ) {}

  get rows(): number {
    return this.seqs.length;
  }

  async nextLogits(allowed: readonly Int32Array[]): Promise<Float32Array[]> {
    return this.seqs.map((s, i) =>
      tf.tidy(() => {
        const h = this.model.hidden(Int32Array.from(s), 1, s.length);
        const last = tf.slice(h, [s.length - 1, 0], [1, this.model.hiddenSize]) as tf.Tensor2D;
        return this.model.headLogits(last, allowed[i]!).dataSync() as Float32Array;
      }),
    );
  }

  async advance(parents: Int32Array, tokens: Int32Array): Promise<void> {
    this.seqs = Array.from(parents, (p, j) => [...this.seqs[p]!, tokens[j]!]);
  }

  dispose(): void {
    this.seqs = [];
  }
}
