/**
 * Inference with a trained RQ-VAE (spec D.1 step 1): argmin codes at every level, never Sinkhorn,
 * in batches, and the last level's distances that collision repair re-assigns by Sinkhorn
 * (spec D.1 step 2: only the last level changes, so its residual is fixed by the argmin prefix).
 */
import { tf } from '../tensor/backend.js';
import { assignCodes, squaredDistancesTo } from './quantizer.js';
import type { Rqvae } from './model.js';

export interface BatchOptions {
  /** Items per forward pass; default settings.inferenceBatchSize. */
  batchSize?: number;
}

/**
 * Calls `fn` with consecutive batches [count, inputDim] of the chosen items (all by default),
 * inside tf.tidy and without a gradient tape. `start` is the batch's offset in the item list.
 */
export function forEachItemBatch(
  model: Rqvae,
  embeddings: Float32Array,
  items: ArrayLike<number> | undefined,
  batchSize: number,
  fn: (x: tf.Tensor2D, start: number, count: number) => void,
): void {
  const dim = model.config.inputDim;
  if (embeddings.length % dim !== 0) throw new RangeError(`${embeddings.length} embedding values are not rows of ${dim}`);
  const rows = embeddings.length / dim;
  const total = items === undefined ? rows : items.length;
  for (let start = 0; start < total; start += batchSize) {
    const count = Math.min(batchSize, total - start);
    let values: Float32Array;
    if (items === undefined) values = embeddings.subarray(start * dim, (start + count) * dim);
    else {
      values = new Float32Array(count * dim);
      for (let i = 0; i < count; i++) {
        const item = items[start + i] as number;
        if (!(Number.isInteger(item) && item >= 0 && item < rows)) throw new RangeError(`item ${item} is not a row of the ${rows} embeddings`);
        values.set(embeddings.subarray(item * dim, (item + 1) * dim), i * dim);
      }
    }
    tf.tidy(() => fn(tf.tensor2d(values, [count, dim]), start, count));
  }
}

/** r_0 = enc(x) of every item, [rows, latentDim] row-major. */
export function encodeLatents(model: Rqvae, embeddings: Float32Array, items?: ArrayLike<number>, opts: BatchOptions = {}): Float32Array {
  const latent = model.settings.latentDim;
  const out = new Float32Array((items === undefined ? embeddings.length / model.config.inputDim : items.length) * latent);
  forEachItemBatch(model, embeddings, items, opts.batchSize ?? model.settings.inferenceBatchSize, (x, start) => {
    out.set(model.encode(x).dataSync(), start * latent);
  });
  return out;
}

/** Argmin code tuples of every item: [rows x levels] row-major, codes[item * levels + level]. */
export function encodeCodes(model: Rqvae, embeddings: Float32Array, opts: BatchOptions = {}): Int32Array {
  const levels = model.settings.levels;
  const out = new Int32Array((embeddings.length / model.config.inputDim) * levels);
  forEachItemBatch(model, embeddings, undefined, opts.batchSize ?? model.settings.inferenceBatchSize, (x, start, count) => {
    const { codes } = model.assignCodes(model.encode(x), 'argmin');
    for (let i = 0; i < count; i++) for (let l = 0; l < levels; l++) out[(start + i) * levels + l] = codes[l]![i]!;
  });
  return out;
}

/**
 * Squared distances [items.length x codebookSize] from each given item's last-level residual
 * r_{L-1} (after argmin at levels 0..L-2) to the last codebook: the cost matrix collision repair
 * hands to `sinkhorn` for a colliding group.
 */
export function lastLevelDistances(model: Rqvae, embeddings: Float32Array, items: ArrayLike<number>, opts: BatchOptions = {}): Float32Array {
  const { levels, codebookSize } = model.settings;
  const out = new Float32Array(items.length * codebookSize);
  forEachItemBatch(model, embeddings, items, opts.batchSize ?? model.settings.inferenceBatchSize, (x, start) => {
    const z = model.encode(x);
    const residual = levels === 1 ? (z.dataSync() as Float32Array) : assignCodes(z, model.codebooks.slice(0, levels - 1)).residuals[levels - 2]!;
    // The same distances as the training Sinkhorn's (quantizer.ts).
    out.set(squaredDistancesTo(residual, model.codebooks[levels - 1]!.dataSync() as Float32Array, model.settings.latentDim), start * codebookSize);
  });
  return out;
}
