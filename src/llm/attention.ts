/**
 * Grouped-query attention without repeating K/V: the G = heads / kvHeads query heads that share a
 * key/value head are reshaped into one block of rows, [T*G, dh], so each (sequence, kv head) pair
 * is one pair of plain 2-D matMuls: scores = Q K^T, out = softmax(scores) V. Measured on wasm
 * (d256, batch 8 x 128, 4 heads / 2 kv heads): this loop of 2-D matMuls took ~70 ms per layer for
 * forward + backward, one batched 3-D matMul ~170 ms, and a single batched softmax over the
 * stacked scores was slower than per-pair softmaxes. Pairs are split and joined as trees
 * (splitFirstAxis, concatRows): at batch 32 that took the layer from ~535 to ~325 ms CPU.
 */
import { tf } from '../tensor/backend.js';
import { matMul } from '../tensor/ops.js';

export interface AttentionShape {
  batch: number;
  seq: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

/** Large negative logit for masked keys: exp underflows to exactly 0, and a row is never all -inf. */
export const MASKED = -1e9;

/** Additive causal mask [seq*G, seq] for rows ordered (t, g): row t*G+g sees keys 0..t. */
export function causalMask(seq: number, groups: number): tf.Tensor2D {
  const mask = new Float32Array(seq * groups * seq);
  for (let t = 0; t < seq; t++) {
    for (let g = 0; g < groups; g++) mask.fill(MASKED, (t * groups + g) * seq + t + 1, (t * groups + g + 1) * seq);
  }
  return tf.tensor2d(mask, [seq * groups, seq]);
}

/**
 * Causal self-attention of q [B*T, H*dh], k, v [B*T, KV*dh] (rows b*T+t, head h uses kv head
 * floor(h / G) as in HF's repeat_kv) -> [B*T, H*dh]. `mask` is causalMask(T, G).
 */
export function causalAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, shape: AttentionShape, mask: tf.Tensor2D): tf.Tensor2D {
  const { batch: B, seq: T, heads: H, kvHeads: KV, headDim: dh } = shape;
  const G = H / KV;
  return tf.tidy(() => {
    // [B, T, KV, G*dh] -> [B, KV, T, G*dh] -> [B*KV, T*G, dh]: rows (t, g) of one kv head together.
    // The 1/sqrt(dh) scale goes on q once rather than on every pair's scores.
    const scaled = tf.mul(q, 1 / Math.sqrt(dh));
    const qs = splitFirstAxis(tf.reshape(tf.transpose(tf.reshape(scaled, [B, T, KV, G * dh]), [0, 2, 1, 3]), [B * KV, T * G, dh]), B * KV);
    const kts = splitFirstAxis(tf.reshape(tf.transpose(tf.reshape(k, [B, T, KV, dh]), [0, 2, 3, 1]), [B * KV, dh, T]), B * KV);
    const vs = splitFirstAxis(tf.reshape(tf.transpose(tf.reshape(v, [B, T, KV, dh]), [0, 2, 1, 3]), [B * KV, T, dh]), B * KV);
    const outs = qs.map((qi, i) => {
      const scores = tf.add(matMul(qi as tf.Tensor2D, kts[i] as tf.Tensor2D), mask);
      return matMul(tf.softmax(scores) as tf.Tensor2D, vs[i] as tf.Tensor2D);
    });
    // [B*KV, T*G, dh] -> [B, KV, T, G*dh] -> [B, T, KV, G*dh] -> [B*T, H*dh]
    return tf.reshape(tf.transpose(tf.reshape(concatRows(outs), [B, KV, T, G * dh]), [0, 2, 1, 3]), [B * T, H * dh]);
  });
}

/**
 * tf.unstack along axis 0 at linear cost: every wasm slice copies its whole source first, so
 * unstacking n pieces moves n times the tensor; halving recursively moves it ~2 log2(n) times
 * (measured: 64 pieces of [256, 64], forward + backward, 165 ms -> 74 ms). Differentiable (SplitV).
 */
export function splitFirstAxis(x: tf.Tensor, n: number): tf.Tensor[] {
  if (n === 1) return [tf.reshape(x, x.shape.slice(1))];
  const half = Math.floor(n / 2);
  const [a, b] = tf.split(x, [half, n - half], 0) as [tf.Tensor, tf.Tensor];
  return [...splitFirstAxis(a, half), ...splitFirstAxis(b, n - half)];
}

/** tf.concat of 2-D tensors along axis 0 as a tree, so its gradient (a split) also moves each value ~log2(n) times. */
export function concatRows(parts: tf.Tensor[]): tf.Tensor {
  if (parts.length === 1) return parts[0] as tf.Tensor;
  const half = Math.floor(parts.length / 2);
  return tf.concat([concatRows(parts.slice(0, half)), concatRows(parts.slice(half))], 0);
}

/** K/V of one layer for decoding, laid out for untransposed matMuls: kT [R*KV, dh, S], v [R*KV, S, dh]. */
export interface LayerCache {
  kT: tf.Tensor3D;
  v: tf.Tensor3D;
}

/** Cache layout of k, v [R*T, KV*dh] (rows r*T+t) from a prefill over R right-padded rows of T tokens. */
export function toCache(k: tf.Tensor2D, v: tf.Tensor2D, rows: number, seq: number, kvHeads: number, headDim: number): LayerCache {
  return tf.tidy(() => ({
    kT: tf.reshape(tf.transpose(tf.reshape(k, [rows, seq, kvHeads, headDim]), [0, 2, 3, 1]), [rows * kvHeads, headDim, seq]) as tf.Tensor3D,
    v: tf.reshape(tf.transpose(tf.reshape(v, [rows, seq, kvHeads, headDim]), [0, 2, 1, 3]), [rows * kvHeads, seq, headDim]) as tf.Tensor3D,
  }));
}

/**
 * Rows of a decoding session grouped by the prompt they continue, padded to the widest group, so
 * the prompts' keys and values are stored once per prompt and never copied per beam row.
 */
export interface RowGroups {
  prompts: number;
  /** Rows per prompt after padding (the widest group). */
  width: number;
  /** [prompts * width]: the row at each padded place (padding repeats row 0 and is never read back). */
  padded: Int32Array;
  /** [rows]: each row's padded place. */
  place: Int32Array;
}

export function groupRows(root: Int32Array, prompts: number): RowGroups {
  const count = new Int32Array(prompts);
  for (const p of root) count[p]! += 1;
  const width = Math.max(1, ...count);
  const padded = new Int32Array(prompts * width);
  const place = new Int32Array(root.length);
  const filled = new Int32Array(prompts);
  root.forEach((p, row) => {
    const at = p * width + (filled[p] as number);
    filled[p]! += 1;
    padded[at] = row;
    place[row] = at;
  });
  return { prompts, width, padded, place };
}

/**
 * One decoding step: q [R, H*dh] (one new token per row) attends over its prompt's cache
 * (`prompt`: [prompts*KV, dh, P] / [prompts*KV, P, dh], `promptMask` [prompts*KV, 1, P] hides each
 * prompt's padding) and over its own decoded tokens (`own`: [R*KV, dh, S] / [R*KV, S, dh], the new
 * token last; growCache). One softmax spans both. Queries are regrouped by prompt (`groups`) for
 * the prompt part, so the step moves O(rows x P) scores instead of O(rows x P x dh) cached keys.
 * Batched 3-D matMuls are fine here: a few query rows per head, so the work is small.
 */
export function decodeAttention(
  q: tf.Tensor2D,
  prompt: LayerCache,
  promptMask: tf.Tensor3D,
  own: LayerCache,
  groups: RowGroups,
  heads: number,
  kvHeads: number,
  headDim: number,
): tf.Tensor2D {
  const R = q.shape[0];
  const G = heads / kvHeads;
  const KV = kvHeads;
  const P = prompt.kT.shape[2];
  const S = own.kT.shape[2];
  const { prompts: nP, width: W } = groups;
  return tf.tidy(() => {
    const qs = tf.mul(q, 1 / Math.sqrt(headDim));
    // Prompt part, per (prompt, kv head): queries of all its rows and groups [W*G, dh] x keys [dh, P].
    const byPrompt = (x: tf.Tensor, width: number) => tf.reshape(tf.transpose(tf.reshape(gatherRowsNoGrad(x, groups.padded), [nP, W, KV, width]), [0, 2, 1, 3]), [nP * KV, W * G, width / G]);
    const toRows = (x: tf.Tensor, width: number) => gatherRowsNoGrad(tf.reshape(tf.transpose(tf.reshape(x, [nP, KV, W, G * width]), [0, 2, 1, 3]), [nP * W, KV * G * width]), groups.place);
    const promptScores = tf.add(tf.matMul(byPrompt(qs, G * headDim) as tf.Tensor3D, prompt.kT), promptMask) as tf.Tensor3D;
    const ownScores = tf.matMul(tf.reshape(qs, [R * KV, G, headDim]) as tf.Tensor3D, own.kT);
    const scores = tf.concat([tf.reshape(toRows(promptScores, P), [R * KV, G, P]), ownScores], 2);
    const [toPrompt, toOwn] = tf.split(tf.softmax(scores), [P, S], 2) as [tf.Tensor3D, tf.Tensor3D];
    const fromPrompt = tf.matMul(byPrompt(tf.reshape(toPrompt, [R, KV * G * P]), G * P) as tf.Tensor3D, prompt.v);
    return tf.add(toRows(fromPrompt, headDim), tf.reshape(tf.matMul(toOwn, own.v), [R, heads * headDim])) as tf.Tensor2D;
  });
}

/**
 * x[rows] for a 2-D tensor, outside any gradient. On wasm and cpu by typed-array copies: the wasm
 * Gather kernel moved only ~25 MB/s in the decoding profile.
 */
export function gatherRowsNoGrad(x: tf.Tensor, rows: Int32Array): tf.Tensor2D {
  const [n, cols] = x.shape as [number, number];
  const backend = tf.getBackend();
  if (backend !== 'wasm' && backend !== 'cpu') return tf.gather(x, tf.tensor1d(rows, 'int32')) as tf.Tensor2D;
  const data = x.dataSync() as Float32Array;
  const out = new Float32Array(rows.length * cols);
  rows.forEach((r, i) => {
    if (r < 0 || r >= n) throw new RangeError(`gatherRowsNoGrad: row ${r} of ${n}`);
    out.set(data.subarray(r * cols, (r + 1) * cols), i * cols);
  });
  return tf.tensor2d(out, [rows.length, cols]);
}

/**
 * The decoded-token cache of the next step: row i (of R*KV) continues old row `kvRows[i]`, and
 * k, v [R, KV*dh] of the new tokens fill a new last slot. On wasm and cpu this is one pass of
 * typed-array copies (the wasm Gather kernel is slow, and every wasm slice copies its whole
 * source); on native backends tf.gather + tf.concat stay on the device.
 */
export function growCache(cache: LayerCache, kvRows: Int32Array, k: tf.Tensor2D, v: tf.Tensor2D, headDim: number): LayerCache {
  const backend = tf.getBackend();
  return backend === 'wasm' || backend === 'cpu' ? growCacheHost(cache, kvRows, k, v, headDim) : growCacheDevice(cache, kvRows, k, v, headDim);
}

/** growCache with tf ops only (native backends: the cache never leaves the device). */
export function growCacheDevice(cache: LayerCache, kvRows: Int32Array, k: tf.Tensor2D, v: tf.Tensor2D, headDim: number): LayerCache {
  return tf.tidy(() => {
    const index = tf.tensor1d(kvRows, 'int32');
    const rows = kvRows.length;
    return {
      kT: tf.concat([tf.gather(cache.kT, index), tf.reshape(k, [rows, headDim, 1])], 2) as tf.Tensor3D,
      v: tf.concat([tf.gather(cache.v, index), tf.reshape(v, [rows, 1, headDim])], 1) as tf.Tensor3D,
    };
  });
}

/** growCache by typed-array copies (wasm, cpu). */
export function growCacheHost(cache: LayerCache, kvRows: Int32Array, k: tf.Tensor2D, v: tf.Tensor2D, dh: number): LayerCache {
  const slots = cache.kT.shape[2];
  const next = slots + 1;
  const rows = kvRows.length;
  const oldK = cache.kT.dataSync() as Float32Array;
  const oldV = cache.v.dataSync() as Float32Array;
  const newK = k.dataSync() as Float32Array; // [R, KV*dh] = [R*KV, dh]
  const newV = v.dataSync() as Float32Array;
  const kT = new Float32Array(rows * dh * next);
  const vv = new Float32Array(rows * next * dh);
  for (let i = 0; i < rows; i++) {
    const p = kvRows[i] as number;
    for (let d = 0; d < dh; d++) {
      const to = (i * dh + d) * next;
      kT.set(oldK.subarray((p * dh + d) * slots, (p * dh + d + 1) * slots), to);
      kT[to + slots] = newK[i * dh + d] as number;
    }
    vv.set(oldV.subarray(p * slots * dh, (p + 1) * slots * dh), i * next * dh);
    vv.set(newV.subarray(i * dh, (i + 1) * dh), (i * next + slots) * dh);
  }
  return { kT: tf.tensor3d(kT, [rows, dh, next]), v: tf.tensor3d(vv, [rows, next, dh]) };
}
