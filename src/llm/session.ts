/**
 * Incremental decoding with a KV cache (src/search/decodeSession.ts), for constrained beam search.
 *
 * Slots of the cache: the prompts are right-padded to the longest (slots 0..P-1; row r's real
 * tokens are 0..len_r-1), then every decoding step appends one slot for all rows (P, P+1, ...).
 * Row r attends to slots [0, len_r) and [P, now]; its next token sits at position len_r + steps,
 * so prompts of different lengths share one session without left padding. Keys are cached after
 * q/k norm and rotary, so the slot order never matters to attention. `advance` gathers the cache
 * rows of the parents (duplicating or dropping rows), then runs one step for the new tokens.
 */
import { tf } from '../tensor/backend.js';
import type { DecodeSession } from '../search/decodeSession.js';
import { causalAttention, causalMask, decodeAttention, growCache, MASKED, toCache } from './attention.js';
import type { LayerCache } from './attention.js';
import { torchLinear } from './linear.js';
import type { QwenModel } from './model.js';
import type { LinearFn } from './contract.js';

export async function startDecodeSession(model: QwenModel, prompts: readonly Int32Array[], linear?: LinearFn): Promise<DecodeSession> {
  return QwenDecodeSession.start(model, prompts, linear);
}

class QwenDecodeSession implements DecodeSession {
  private disposed = false;

  private constructor(
    private readonly model: QwenModel,
    private readonly linear: LinearFn | undefined,
    private promptLength: Int32Array,
    /** P: slots taken by the padded prompts. */
    private readonly promptSlots: number,
    private steps: number,
    private caches: LayerCache[],
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
    let last: tf.Tensor2D;
    try {
      last = tf.tidy(() => {
        const mask = causalMask(seq, heads / kvHeads);
        const hidden = model.run(ids, positions, (_layer, q, k, v) => {
          caches.push(keepCache(toCache(k, v, rows, seq, kvHeads, headDim)));
          return causalAttention(q, k, v, shape, mask);
        }, linear);
        return tf.gather(hidden, Int32Array.from(prompts, (p, r) => r * seq + p.length - 1)) as tf.Tensor2D;
      });
    } catch (error) {
      disposeCaches(caches); // kept tensors outlive the tidy that failed
      throw error;
    }
    if (caches.length !== layers) throw new Error(`prefill cached ${caches.length} layers of ${layers}`);
    return new QwenDecodeSession(model, linear, Int32Array.from(prompts, (p) => p.length), seq, 0, caches, last);
  }

  get rows(): number {
    return this.promptLength.length;
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
    if (rows === 0) {
      // Every row dropped: nothing left to decode, but the session stays valid (and empty).
      this.replaceState([], tf.zeros([0, this.model.hiddenSize]), new Int32Array(0));
      return;
    }
    const promptLength = Int32Array.from(parents, (p) => this.promptLength[p] as number);
    const kvRows = new Int32Array(rows * kvHeads);
    parents.forEach((p, j) => {
      for (let h = 0; h < kvHeads; h++) kvRows[j * kvHeads + h] = p * kvHeads + h;
    });
    const slots = this.promptSlots + this.steps + 1; // after appending this step's token
    const mask = new Float32Array(rows * kvHeads * slots);
    for (let j = 0; j < rows; j++) {
      for (let h = 0; h < kvHeads; h++) mask.fill(MASKED, (j * kvHeads + h) * slots + (promptLength[j] as number), (j * kvHeads + h) * slots + this.promptSlots);
    }
    const positions = Int32Array.from(promptLength, (n) => n + this.steps);
    const next: LayerCache[] = [];
    let last: tf.Tensor2D;
    try {
      last = tf.tidy(() => {
        const maskT = tf.tensor3d(mask, [rows * kvHeads, 1, slots]);
        return this.model.run(tokens, positions, (layer, q, k, v) => {
          const grown = keepCache(growCache(this.caches[layer] as LayerCache, kvRows, k, v, headDim));
          next.push(grown);
          return decodeAttention(q, grown, maskT, heads, kvHeads, headDim);
        }, this.linear);
      });
    } catch (error) {
      disposeCaches(next); // the session keeps its state before this call
      throw error;
    }
    this.replaceState(next, last, promptLength);
  }

  private replaceState(caches: LayerCache[], last: tf.Tensor2D, promptLength: Int32Array): void {
    disposeCaches(this.caches);
    this.last.dispose();
    this.caches = caches;
    this.last = last;
    this.promptLength = promptLength;
    this.steps += 1;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeCaches(this.caches);
    this.caches = [];
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
