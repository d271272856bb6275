/**
 * Incremental decoding with a KV cache (src/search/decodeSession.ts), for constrained beam search.
 *
 * Two caches per layer. The prompts' keys and values, from one prefill over the prompts
 * right-padded to the longest (P slots; prompt p's real tokens are 0..len_p-1, the rest masked),
 * are stored once per prompt and never copied, however many beam rows continue a prompt. Each
 * row's decoded tokens have their own small cache, gathered by parent and grown by one slot per
 * step. A row attends to its prompt's real slots and to its own decoded slots; its next token sits
 * at position len_p + steps, so prompts of different lengths share a session without left
 * padding. Keys are cached after q/k norm and rotary, so slot order never matters to attention.
 */
import { tf } from '../tensor/backend.js';
import type { DecodeSession } from '../search/decodeSession.js';
import { causalAttention, causalMask, decodeAttention, groupRows, growCache, MASKED, toCache } from './attention.js';
import type { LayerCache } from './attention.js';
import { torchLinear } from './linear.js';
import type { QwenModel } from './model.js';
import type { LinearFn } from './contract.js';

export async function startDecodeSession(model: QwenModel, prompts: readonly Int32Array[], linear?: LinearFn): Promise<DecodeSession> {
  return QwenDecodeSession.start(model, prompts, linear);
}

class QwenDecodeSession implements DecodeSession {
  private disposed = false;
  /** Decoded tokens so far (the same for every row). */
  private steps = 0;

  private constructor(
    private readonly model: QwenModel,
    private readonly linear: LinearFn | undefined,
    /** Real tokens of each prompt. */
    private readonly promptLength: Int32Array,
    /** Per layer: keys/values of the padded prompts, [prompts*KV, dh, P] / [prompts*KV, P, dh]. */
    private readonly promptCaches: LayerCache[],
    /** [prompts*KV, 1, P]: 0 on a prompt's tokens, MASKED on its padding. */
    private readonly promptMask: tf.Tensor3D,
    /** The prompt each row continues. */
    private root: Int32Array,
    /** Per layer: each row's decoded tokens, [rows*KV, dh, steps] / [rows*KV, steps, dh]. */
    private ownCaches: LayerCache[],
    /** Final hidden state of every row's last token [rows, hidden]. */
    private last: tf.Tensor2D,
  ) {}

  static start(model: QwenModel, prompts: readonly Int32Array[], linear?: LinearFn): QwenDecodeSession {
    if (prompts.length === 0) throw new RangeError('start: no prompts');
    prompts.forEach((p, i) => {
      if (p.length === 0) throw new RangeError(`start: prompt ${i} is empty (a row needs at least one token)`);
    });
    const rows = prompts.length;
    const seq = Math.max(...prompts.map((p) => p.length));
    const ids = new Int32Array(rows * seq); // padding id 0: after each prompt, masked from later steps
    prompts.forEach((p, r) => ids.set(p, r * seq));
    const positions = Int32Array.from({ length: ids.length }, (_, i) => i % seq);
    const { num_attention_heads: heads, num_key_value_heads: kvHeads, head_dim: headDim, num_hidden_layers: layers } = model.config;
    const shape = { batch: rows, seq, heads, kvHeads, headDim };
    const caches: LayerCache[] = [];
    const own: LayerCache[] = [];
    let last: tf.Tensor2D;
    let promptMask: tf.Tensor3D;
    try {
      last = tf.tidy(() => {
        const mask = causalMask(seq, heads / kvHeads);
        const hidden = model.run(ids, positions, (_layer, q, k, v) => {
          caches.push(keepCache(toCache(k, v, rows, seq, kvHeads, headDim)));
          return causalAttention(q, k, v, shape, mask);
        }, linear);
        return tf.gather(hidden, Int32Array.from(prompts, (p, r) => r * seq + p.length - 1)) as tf.Tensor2D;
      });
      const maskValues = new Float32Array(rows * kvHeads * seq);
      prompts.forEach((p, r) => {
        for (let h = 0; h < kvHeads; h++) maskValues.fill(MASKED, (r * kvHeads + h) * seq + p.length, (r * kvHeads + h + 1) * seq);
      });
      promptMask = tf.tensor3d(maskValues, [rows * kvHeads, 1, seq]);
      for (let i = 0; i < layers; i++) own.push({ kT: tf.zeros([rows * kvHeads, headDim, 0]), v: tf.zeros([rows * kvHeads, 0, headDim]) });
    } catch (error) {
      disposeCaches(caches); // kept tensors outlive the tidy that failed
      disposeCaches(own);
      throw error;
    }
    if (caches.length !== layers) throw new Error(`prefill cached ${caches.length} layers of ${layers}`);
    const root = Int32Array.from(prompts, (_, r) => r);
    return new QwenDecodeSession(model, linear, Int32Array.from(prompts, (p) => p.length), caches, promptMask, root, own, last);
  }

  get rows(): number {
    return this.root.length;
  }

  async nextLogits(allowed: readonly Int32Array[]): Promise<Float32Array[]> {
    this.checkLive();
    if (allowed.length !== this.rows) throw new RangeError(`nextLogits: ${allowed.length} allowed lists for ${this.rows} rows`);
    const vocab = this.model.vocabSize;
    const column = new Map<number, number>(); // token id -> column of the union
    for (const ids of allowed) {
      for (const id of ids) {
        if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`nextLogits: token id ${id} is outside the vocabulary (0..${vocab - 1})`);
        if (!column.has(id)) column.set(id, column.size);
      }
    }
    if (column.size === 0) return allowed.map(() => new Float32Array(0));
    const union = Int32Array.from(column.keys());
    const logits = tf.tidy(() => torchLinear(this.last, tf.gather(this.model.headWeight(), union) as tf.Tensor2D));
    const values = (await logits.data()) as Float32Array;
    logits.dispose();
    const width = union.length;
    return allowed.map((ids, r) => Float32Array.from(ids, (id) => values[r * width + (column.get(id) as number)] as number));
  }

  async advance(parents: Int32Array, tokens: Int32Array): Promise<void> {
    this.checkLive();
    if (parents.length !== tokens.length) throw new RangeError(`advance: ${parents.length} parents but ${tokens.length} tokens`);
    for (const p of parents) {
      if (!Number.isInteger(p) || p < 0 || p >= this.rows) throw new RangeError(`advance: parent ${p} is not a row (0..${this.rows - 1})`);
    }
    const { num_attention_heads: heads, num_key_value_heads: kvHeads, head_dim: headDim } = this.model.config;
    const rows = parents.length;
    const root = Int32Array.from(parents, (p) => this.root[p] as number);
    if (rows === 0) {
      // Every row dropped: nothing left to decode, but the session stays valid (and empty).
      const empty = this.ownCaches.map(() => ({ kT: tf.zeros([0, headDim, this.steps + 1]), v: tf.zeros([0, this.steps + 1, headDim]) }) as LayerCache);
      this.replaceState(empty, tf.zeros([0, this.model.hiddenSize]), root);
      return;
    }
    const kvRows = new Int32Array(rows * kvHeads);
    parents.forEach((p, j) => {
      for (let h = 0; h < kvHeads; h++) kvRows[j * kvHeads + h] = p * kvHeads + h;
    });
    const groups = groupRows(root, this.promptLength.length);
    const positions = Int32Array.from(root, (p) => (this.promptLength[p] as number) + this.steps);
    const next: LayerCache[] = [];
    let last: tf.Tensor2D;
    try {
      last = tf.tidy(() =>
        this.model.run(tokens, positions, (layer, q, k, v) => {
          const own = keepCache(growCache(this.ownCaches[layer] as LayerCache, kvRows, k, v, headDim));
          next.push(own);
          return decodeAttention(q, this.promptCaches[layer] as LayerCache, this.promptMask, own, groups, heads, kvHeads, headDim);
        }, this.linear),
      );
    } catch (error) {
      disposeCaches(next); // the session keeps its state before this call
      throw error;
    }
    this.replaceState(next, last, root);
  }

  private replaceState(own: LayerCache[], last: tf.Tensor2D, root: Int32Array): void {
    disposeCaches(this.ownCaches);
    this.last.dispose();
    this.ownCaches = own;
    this.last = last;
    this.root = root;
    this.steps += 1;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeCaches(this.ownCaches);
    disposeCaches(this.promptCaches);
    this.ownCaches = [];
    this.promptMask.dispose();
    this.last.dispose();
  }

  private checkLive(): void {
    if (this.disposed) throw new Error('the decode session was disposed');
  }
}

/** Marks a cache to survive the enclosing tf.tidy scopes. */
function keepCache(cache: LayerCache): LayerCache {
  return { kT: tf.keep(cache.kT), v: tf.keep(cache.v) };
}

function disposeCaches(caches: LayerCache[]): void {
  for (const c of caches) {
    c.kT.dispose();
    c.v.dispose();
  }
}
