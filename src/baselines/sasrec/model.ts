/**
 * SASRec (Kang & McAuley 2018), as in the widely used PyTorch port (pmixer/SASRec.pytorch):
 *   x = E[items] * sqrt(d) + P[positions]; dropout; zero the padding
 *   per block: Q = LN(x); x = Q + MHA(Q, x, x, causal); x = LN(x); x = x + FFN(x); zero the padding
 *   h = LN(x); score(item) = h . E[item]    (item embeddings shared with the output)
 * Item ids are shifted by one: row 0 of E is padding. Sequences are left-padded and positions are
 * right-aligned (the newest item always has position maxLength-1), so batches may be cut to their
 * longest sequence without changing what a position means.
 */
import type { Rng } from '../../tensor/rng.js';
import { tf } from '../../tensor/backend.js';
import { gatherRows, linear, matMul } from '../../tensor/ops.js';

export interface SasrecShape {
  numItems: number;
  hidden: number;
  blocks: number;
  heads: number;
  maxLength: number;
  dropout: number;
}

type V1 = tf.Variable<tf.Rank.R1>;
type V2 = tf.Variable<tf.Rank.R2>;

interface Block {
  ln1g: V1; ln1b: V1;
  wq: V2; bq: V1; wk: V2; bk: V1; wv: V2; bv: V1; wo: V2; bo: V1;
  ln2g: V1; ln2b: V1;
  w1: V2; b1: V1; w2: V2; b2: V1;
}

/** A batch of left-padded windows: `items[b*length + t]` is an item id + 1, or 0 for padding. */
export interface Batch {
  size: number;
  length: number;
  items: Int32Array;
}

export class Sasrec {
  readonly itemEmb: V2;
  readonly posEmb: V2;
  readonly blocks: Block[];
  readonly lnFg: V1;
  readonly lnFb: V1;

  constructor(readonly shape: SasrecShape, rng: Rng) {
    const d = shape.hidden;
    if (d % shape.heads !== 0) throw new RangeError(`hidden size ${d} is not divisible by ${shape.heads} heads`);
    // Xavier-uniform for every matrix, embeddings included, as genrec initialises SASRec. For the
    // item table that is std ~0.013: item inputs (x sqrt(d)) start on the scale of the positions
    // and the first logits near zero. Rows ~ N(0, 1/d) instead start 10x larger and train far
    // slower on Beauty (valid Recall@10 0.035 against 0.053 after 3 epochs).
    const xavier = (rows: number, cols: number, zeroFirstRow = false) => {
      const a = Math.sqrt(6 / (rows + cols));
      const values = Float32Array.from({ length: rows * cols }, () => (rng.float() * 2 - 1) * a);
      if (zeroFirstRow) values.fill(0, 0, cols);
      return tf.variable(tf.tensor2d(values, [rows, cols]));
    };
    const vector = (n: number, value: number): V1 => tf.variable(tf.fill([n], value) as tf.Tensor1D);
    this.itemEmb = xavier(shape.numItems + 1, d, true); // row 0: padding
    this.posEmb = xavier(shape.maxLength, d);
    this.blocks = Array.from({ length: shape.blocks }, () => ({
      ln1g: vector(d, 1), ln1b: vector(d, 0),
      wq: xavier(d, d), bq: vector(d, 0), wk: xavier(d, d), bk: vector(d, 0), wv: xavier(d, d), bv: vector(d, 0), wo: xavier(d, d), bo: vector(d, 0),
      ln2g: vector(d, 1), ln2b: vector(d, 0),
      w1: xavier(d, d), b1: vector(d, 0), w2: xavier(d, d), b2: vector(d, 0),
    }));
    this.lnFg = vector(d, 1);
    this.lnFb = vector(d, 0);
  }

  variables(): tf.Variable[] {
    return [this.itemEmb, this.posEmb, ...this.blocks.flatMap((b) => Object.values(b)), this.lnFg, this.lnFb];
  }

  /** Hidden states [size*length, hidden] of a batch. `dropoutSeed` undefined: inference. */
  hidden(batch: Batch, dropoutSeed?: number): tf.Tensor2D {
    const { size, length, items } = batch;
    const { hidden: d, heads, maxLength } = this.shape;
    const dh = d / heads;
    let seed = dropoutSeed ?? 0;
    const drop = (x: tf.Tensor) => (dropoutSeed === undefined || this.shape.dropout === 0 ? x : tf.dropout(x, this.shape.dropout, undefined, seed++));
    const positions = new Int32Array(size * length);
    const keep = new Float32Array(size * length);
    for (let i = 0; i < positions.length; i++) {
      positions[i] = maxLength - length + (i % length);
      keep[i] = items[i] === 0 ? 0 : 1;
    }
    const keepMask = tf.tensor2d(keep, [size * length, 1]);
    const attentionMask = this.attentionMask(batch);
    let x: tf.Tensor2D = tf.add(tf.mul(gatherRows(this.itemEmb, items), Math.sqrt(d)), gatherRows(this.posEmb, positions));
    x = tf.mul(drop(x), keepMask);
    for (const b of this.blocks) {
      const q = layerNorm(x, b.ln1g, b.ln1b);
      const split = (t: tf.Tensor2D): tf.Tensor3D => tf.reshape(tf.transpose(tf.reshape(t, [size, length, heads, dh]), [0, 2, 1, 3]), [size * heads, length, dh]);
      const qh = split(linear(q, b.wq, b.bq));
      const kh = split(linear(x, b.wk, b.bk));
      const vh = split(linear(x, b.wv, b.bv));
      const scores = tf.add(tf.mul(tf.matMul(qh, kh, false, true), 1 / Math.sqrt(dh)), attentionMask);
      const attended = tf.matMul(drop(tf.softmax(scores)) as tf.Tensor3D, vh);
      const merged = tf.reshape(tf.transpose(tf.reshape(attended, [size, heads, length, dh]), [0, 2, 1, 3]), [size * length, d]) as tf.Tensor2D;
      x = tf.add(q, drop(linear(merged, b.wo, b.bo))) as tf.Tensor2D;
      x = layerNorm(x, b.ln2g, b.ln2b);
      const inner = drop(tf.relu(linear(x, b.w1, b.b1))) as tf.Tensor2D;
      x = tf.add(x, drop(linear(inner, b.w2, b.b2))) as tf.Tensor2D;
      x = tf.mul(x, keepMask) as tf.Tensor2D;
    }
    return layerNorm(x, this.lnFg, this.lnFb);
  }

  /** Scores of every item (without the padding row) for hidden states h [n, hidden] -> [n, numItems]. */
  scores(h: tf.Tensor2D): tf.Tensor2D {
    const items = tf.slice(this.itemEmb, [1, 0], [this.shape.numItems, this.shape.hidden]) as tf.Tensor2D;
    return matMul(h, tf.transpose(items));
  }

  /** Embeddings of items (0-based ids) as the output layer sees them, [n, hidden]. */
  itemRows(items: ArrayLike<number>): tf.Tensor2D {
    return gatherRows(this.itemEmb, Array.from(items, (i) => i + 1));
  }

  /** Additive mask [size*heads, length, length]: a query sees itself and earlier real items only. */
  private attentionMask({ size, length, items }: Batch): tf.Tensor3D {
    const { heads } = this.shape;
    const mask = new Float32Array(size * heads * length * length);
    for (let b = 0; b < size; b++) {
      for (let i = 0; i < length; i++) {
        for (let j = 0; j < length; j++) {
          // A padded query row may see nothing; letting it see itself keeps softmax finite.
          const visible = j === i || (j < i && items[b * length + j] !== 0);
          if (visible) continue;
          for (let h = 0; h < heads; h++) mask[((b * heads + h) * length + i) * length + j] = -1e9;
        }
      }
    }
    return tf.tensor3d(mask, [size * heads, length, length]);
  }
}

function layerNorm(x: tf.Tensor2D, gain: V1, bias: V1): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, 1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-8))), gain), bias) as tf.Tensor2D;
}
