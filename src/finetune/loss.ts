/**
 * The causal LM loss on supervised positions only. The model's final hidden states are computed
 * for the whole padded batch, the supervised rows are gathered (gatherRows: JS scatter-add
 * gradient, wasm has no UnsortedSegmentSum), and only those rows go through the head, over the
 * full vocabulary or a candidate subset. Cross-entropy is log-sum-exp minus the target logit,
 * written as one custom op: no tf.oneHot, no tf.max gradient (both slow on wasm), and the
 * backward is softmax - indicator in one pass.
 */
import { BadInputError } from '../errors.js';
import type { CausalLM, LinearFn } from '../llm/contract.js';
import { tf } from '../tensor/backend.js';
import { customOp } from '../tensor/customOp.js';
import { gatherRows } from '../tensor/ops.js';
import type { Batch } from './batching.js';

/**
 * Per-row cross-entropy [n] of logits [n, V] against `targets` (column indices). The row maximum
 * is subtracted inside the op (stable), and it is a constant there, so no max gradient exists.
 */
export function crossEntropyRows(logits: tf.Tensor2D, targets: Int32Array): tf.Tensor1D {
  const [n, v] = logits.shape;
  if (targets.length !== n) throw new RangeError(`crossEntropyRows: ${targets.length} targets for ${n} rows`);
  for (let i = 0; i < n; i++) {
    const t = targets[i]!;
    if (!(t >= 0 && t < v)) throw new RangeError(`crossEntropyRows: target ${t} of row ${i} is outside 0..${v - 1}`);
  }
  // indicator[i, j] = (j == targets[i]), built by broadcasting a comparison (cheap, element-wise).
  const indicator = () => tf.cast(tf.equal(tf.reshape(tf.range(0, v, 1, 'int32'), [1, v]), tf.tensor2d(targets, [n, 1], 'int32')), 'float32');
  return customOp({
    inputs: { logits },
    forward: (save) => {
      save([logits]);
      return tf.tidy(() => {
        const shifted = tf.sub(logits, tf.max(logits, 1, true));
        const lse = tf.log(tf.sum(tf.exp(shifted), 1));
        const picked = tf.sum(tf.mul(shifted, indicator()), 1);
        return tf.sub(lse, picked);
      });
    },
    backward: (dy, saved) => ({
      logits: () =>
        tf.tidy(() => {
          const x = saved[0] as tf.Tensor2D;
          const softmax = tf.softmax(x, 1);
          return tf.mul(tf.sub(softmax, indicator()), tf.reshape(dy, [n, 1]));
        }),
    }),
  }) as tf.Tensor1D;
}

export interface LossOptions {
  linear?: LinearFn;
  /** Head rows to score (a candidate vocabulary); every target must be one of them. Default: all. */
  headTokens?: Int32Array;
}

/** Maps target token ids to columns of a candidate head; throws on a target outside it. */
export function targetColumns(targets: Int32Array, headTokens: Int32Array | undefined): Int32Array {
  if (!headTokens) return targets;
  const column = new Map<number, number>();
  headTokens.forEach((id, j) => column.set(id, j));
  return targets.map((t) => {
    const j = column.get(t);
    if (j === undefined) {
      throw new BadInputError(`target token ${t} is not in the candidate head vocabulary (${headTokens.length} tokens): a response holds other tokens than the candidates; use the full head`, { field: 'finetune.head' });
    }
    return j;
  });
}

/**
 * Sum of the token losses of one batch (a scalar), differentiable w.r.t. the model's weights and
 * whatever `linear` closes over. Divide by the tokens of the optimiser step for the mean.
 */
export function batchLossSum(model: CausalLM, batch: Batch, opts: LossOptions = {}): tf.Scalar {
  return tf.tidy(() => {
    const fwd = opts.linear ? { linear: opts.linear } : undefined;
    const hidden = model.hidden(batch.ids, batch.batch, batch.seq, fwd);
    const rows = gatherRows(hidden, batch.rows);
    const logits = model.headLogits(rows, opts.headTokens, fwd);
    return tf.sum(crossEntropyRows(logits, targetColumns(batch.targets, opts.headTokens))) as tf.Scalar;
  });
}
