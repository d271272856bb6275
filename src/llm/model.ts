/**
 * A Qwen2 / Qwen3 decoder-only transformer in TensorFlow.js, read like HF's modeling_qwen3.py:
 *   x = embed_tokens[ids]
 *   per layer: h = input_layernorm(x)
 *              q, k, v = q_proj(h), k_proj(h), v_proj(h)          (+ bias: Qwen2, or Qwen3 attention_bias)
 *              q, k = q_norm(q), k_norm(k) per head                (Qwen3 only)
 *              q, k = rotary(q), rotary(k)
 *              x = x + o_proj(causal grouped-query attention(q, k, v))
 *              x = x + down_proj(silu(gate_proj(h2)) * up_proj(h2)),  h2 = post_attention_layernorm(x)
 *   hidden = norm(x);  logits = hidden @ head^T   (head = embed_tokens when tied, else lm_head)
 * Every weight is a tf.Variable under its HF name and HF shape (weights.ts), and every linear layer
 * goes through `opts.linear ?? hfLinear(weights)`, so LoRA wraps the forward without touching it.
 */
import { tf } from '../tensor/backend.js';
import { gatherRows, silu } from '../tensor/ops.js';
import type { CausalLM, ForwardOptions, LinearFn } from './contract.js';
import type { SessionFactory } from '../search/decodeSession.js';
import type { QwenConfig } from './config.js';
import { causalAttention, causalMask } from './attention.js';
import { hfLinear, torchLinear } from './linear.js';
import { applyRotary, inverseFrequencies, ropeTables, rotateHalfMatrix } from './rotary.js';
import type { RopeTables } from './rotary.js';
import { EMBED, FINAL_NORM, LM_HEAD, layerModule, linearModuleNames, weightSpecs } from './weights.js';
import { startDecodeSession } from './session.js';

/** Applies the attention of one layer to q [n, H*dh], k, v [n, KV*dh] (after norms and rotary). */
export type AttendFn = (layer: number, q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D) => tf.Tensor2D;

export class QwenModel implements CausalLM {
  readonly linearModules: readonly string[];
  readonly sessions: SessionFactory;
  /** The config.json this model was loaded from (keys we do not model are kept when saving). */
  readonly rawConfig: Record<string, unknown>;
  /** The generation_config.json loaded with the model, written back by saveQwen; null for new models. */
  generationConfig: Record<string, unknown> | null = null;
  private readonly store: Map<string, tf.Variable>;
  private readonly invFreq: Float32Array;
  private readonly rotateHalf: tf.Tensor2D;
  private cfg: QwenConfig;

  /**
   * Takes ownership of `weights` (HF names and shapes, checked against weightSpecs(config)).
   * Use loadQwen (checkpoint.ts) or randomQwen (random.ts) rather than calling this directly.
   */
  constructor(config: QwenConfig, weights: Map<string, tf.Variable>, rawConfig: Record<string, unknown> = {}) {
    for (const spec of weightSpecs(config)) {
      const w = weights.get(spec.name);
      if (!w) throw new RangeError(`QwenModel: weight '${spec.name}' is missing`);
      if (!tf.util.arraysEqual(w.shape, spec.shape)) throw new RangeError(`QwenModel: weight '${spec.name}' is [${w.shape}], the config needs [${spec.shape}]`);
    }
    this.cfg = config;
    this.store = weights;
    this.rawConfig = rawConfig;
    this.linearModules = linearModuleNames(config);
    this.invFreq = inverseFrequencies(config);
    this.rotateHalf = rotateHalfMatrix(config.head_dim);
    this.sessions = this.sessionFactory();
  }

  /**
   * Decoding sessions whose forward uses `opts.linear` (e.g. an unmerged LoRA adapter during
   * evaluation); `sessions` is the same with the model's own linear layers.
   */
  sessionFactory(opts: ForwardOptions = {}): SessionFactory {
    return { start: (prompts) => startDecodeSession(this, prompts, opts.linear) };
  }

  get config(): QwenConfig {
    return this.cfg;
  }

  get weights(): ReadonlyMap<string, tf.Variable> {
    return this.store;
  }

  get vocabSize(): number {
    return this.cfg.vocab_size;
  }

  get hiddenSize(): number {
    return this.cfg.hidden_size;
  }

  /** The linear layers as the model applies them by default (frozen base for LoRA wrappers). */
  get defaultLinear(): LinearFn {
    return hfLinear(this.store);
  }

  hidden(ids: Int32Array, batch: number, seq: number, opts: ForwardOptions = {}): tf.Tensor2D {
    if (!Number.isInteger(batch) || !Number.isInteger(seq) || batch < 1 || seq < 1 || ids.length !== batch * seq) {
      throw new RangeError(`hidden: ${ids.length} token ids do not make batch ${batch} x seq ${seq}`);
    }
    const positions = Int32Array.from({ length: ids.length }, (_, i) => i % seq);
    const { num_attention_heads: heads, num_key_value_heads: kvHeads, head_dim: headDim } = this.cfg;
    return tf.tidy(() => {
      const mask = causalMask(seq, heads / kvHeads);
      const shape = { batch, seq, heads, kvHeads, headDim };
      return this.run(ids, positions, (_layer, q, k, v) => causalAttention(q, k, v, shape, mask), opts.linear);
    });
  }

  headLogits(hidden: tf.Tensor2D, tokenIds?: Int32Array, _opts: ForwardOptions = {}): tf.Tensor2D {
    // The head is not routed through opts.linear: it is not in linearModules (a LinearFn cannot
    // express a subset of rows), and its rows are trained as whole rows.
    const head = this.headWeight();
    return tf.tidy(() => torchLinear(hidden, tokenIds === undefined ? head : gatherRows(head, tokenIds)));
  }

  /** The head's weight [vocab, hidden]: the embedding when tied. */
  headWeight(): tf.Variable<tf.Rank.R2> {
    return this.weight(this.cfg.tie_word_embeddings ? EMBED : LM_HEAD) as tf.Variable<tf.Rank.R2>;
  }

  /**
   * Final hidden states [ids.length, hidden] of tokens at the given positions, with the attention
   * supplied by the caller (causal over a batch here, over a KV cache when decoding).
   */
  run(ids: Int32Array, positions: ArrayLike<number>, attend: AttendFn, linear: LinearFn = this.defaultLinear): tf.Tensor2D {
    this.checkIds(ids);
    return tf.tidy(() => {
      const rope = ropeTables(this.invFreq, positions);
      let x = gatherRows(this.weight(EMBED) as tf.Tensor2D, ids);
      for (let i = 0; i < this.cfg.num_hidden_layers; i++) x = this.layer(i, x, rope, linear, attend);
      return this.rmsNorm(x, FINAL_NORM);
    });
  }

  private layer(i: number, x: tf.Tensor2D, rope: RopeTables, linear: LinearFn, attend: AttendFn): tf.Tensor2D {
    const { num_attention_heads: heads, num_key_value_heads: kvHeads, model_type: type } = this.cfg;
    const m = (part: string) => layerModule(i, part);
    const h = this.rmsNorm(x, `${m('input_layernorm')}.weight`);
    let q = linear(m('self_attn.q_proj'), h);
    let k = linear(m('self_attn.k_proj'), h);
    const v = linear(m('self_attn.v_proj'), h);
    if (type === 'qwen3') {
      q = this.headNorm(q, heads, `${m('self_attn.q_norm')}.weight`);
      k = this.headNorm(k, kvHeads, `${m('self_attn.k_norm')}.weight`);
    }
    q = applyRotary(q, heads, rope, this.rotateHalf);
    k = applyRotary(k, kvHeads, rope, this.rotateHalf);
    const attended = linear(m('self_attn.o_proj'), attend(i, q, k, v));
    x = tf.add(x, attended);
    const h2 = this.rmsNorm(x, `${m('post_attention_layernorm')}.weight`);
    const gated = tf.mul(silu(linear(m('mlp.gate_proj'), h2)), linear(m('mlp.up_proj'), h2)) as tf.Tensor2D;
    return tf.add(x, linear(m('mlp.down_proj'), gated));
  }

  /** RMSNorm over the last axis: w * x / sqrt(mean(x^2) + eps). */
  private rmsNorm(x: tf.Tensor2D, weightName: string): tf.Tensor2D {
    const variance = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, this.cfg.rms_norm_eps))), this.weight(weightName));
  }

  /** Qwen3's q_norm / k_norm: RMSNorm of each head's head_dim values. */
  private headNorm(x: tf.Tensor2D, heads: number, weightName: string): tf.Tensor2D {
    const [rows] = x.shape;
    const dim = this.cfg.head_dim;
    return tf.reshape(this.rmsNorm(tf.reshape(x, [rows * heads, dim]), weightName), [rows, heads * dim]);
  }

  private weight(name: string): tf.Variable {
    const w = this.store.get(name);
    if (!w) throw new RangeError(`weight '${name}' is missing`);
    return w;
  }

  private checkIds(ids: Int32Array): void {
    const vocab = this.cfg.vocab_size;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      if (id < 0 || id >= vocab) throw new RangeError(`token id ${id} at index ${i} is outside the vocabulary (0..${vocab - 1})`);
    }
  }

  /**
   * Replaces the embedding (and an untied head) by tables with another number of rows, and sets
   * vocab_size. For the vocabulary row operations (embeddingRows.ts); an optimiser created before
   * holds the old variables, so resize before training starts.
   */
  replaceVocabularyTables(tables: { embed: tf.Tensor2D; head?: tf.Tensor2D }): void {
    const rows = tables.embed.shape[0];
    if (tables.embed.shape[1] !== this.cfg.hidden_size) throw new RangeError(`embedding must be [rows, ${this.cfg.hidden_size}], got [${tables.embed.shape}]`);
    if (this.cfg.tie_word_embeddings !== (tables.head === undefined)) throw new RangeError('a head table is needed exactly when the head is untied');
    if (tables.head && !tf.util.arraysEqual(tables.head.shape, tables.embed.shape)) throw new RangeError(`head [${tables.head.shape}] and embedding [${tables.embed.shape}] differ`);
    this.swap(EMBED, tables.embed);
    if (tables.head) this.swap(LM_HEAD, tables.head);
    this.cfg = { ...this.cfg, vocab_size: rows };
  }

  private swap(name: string, value: tf.Tensor2D): void {
    const old = this.store.get(name);
    this.store.set(name, tf.variable(value)); // shares value's data; value itself is released
    value.dispose();
    old?.dispose();
  }

  /** Frees every weight; the model is unusable afterwards. */
  dispose(): void {
    for (const w of this.store.values()) w.dispose();
    this.store.clear();
    this.rotateHalf.dispose();
  }
}
