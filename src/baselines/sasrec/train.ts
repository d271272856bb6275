import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { trainingPart, evalCase } from '../../data/datasetReader.js';
import type { ProgressSink } from '../../data/itemText.js';
import { MetricsAccumulator, rankOf } from '../../eval/metrics.js';
import { tf } from '../../tensor/backend.js';
import { customOp } from '../../tensor/customOp.js';
import { gatherRows } from '../../tensor/ops.js';
import { Rng, deriveSeed } from '../../tensor/rng.js';
import type { Recommendation, Recommender } from '../recommender.js';
import { Sasrec, type Batch } from './model.js';

export interface SasrecSettings {
  hidden: number;
  blocks: number;
  heads: number;
  maxLength: number;
  dropout: number;
  learningRate: number;
  batchSize: number;
  maxEpochs: number;
  /** Stop after this many epochs without a better validation Recall@10. */
  patience: number;
}

export interface EpochLog {
  epoch: number;
  loss: number;
  validRecall10: number;
  /** The whole epoch: training and the validation pass. */
  seconds: number;
  /** The training steps alone. */
  trainSeconds: number;
}

export interface SasrecResult {
  recommender: Recommender;
  epochs: EpochLog[];
  bestEpoch: number;
  trainSeconds: number;
}

/**
 * Trains SASRec on the training part of every sequence (each window predicts its next items,
 * cross-entropy over all items), checks validation Recall@10 after every epoch, and keeps the
 * best epoch's weights (early stopping with `patience`). Deterministic for a seed on one backend.
 */
export async function trainSasrec(
  sequences: Int32Array[],
  numItems: number,
  settings: SasrecSettings,
  seed: number,
  opts: { onProgress?: ProgressSink; signal?: AbortSignal; log?: (line: string) => void } = {},
): Promise<SasrecResult> {
  const rng = new Rng(deriveSeed(seed, 'sasrec'));
  const model = new Sasrec({ numItems, ...settings }, rng);
  const optimizer = tf.train.adam(settings.learningRate, 0.9, 0.98);
  const windows = sequences.map((s) => trainingPart(s).slice(-(settings.maxLength + 1))).filter((w) => w.length >= 2);
  const recommender = sasrecRecommender(model);
  const epochs: EpochLog[] = [];
  let best = { recall: -1, epoch: 0, weights: [] as Float32Array[] };
  const started = performance.now();
  try {
    for (let epoch = 1; epoch <= settings.maxEpochs; epoch++) {
      const t0 = performance.now();
      const batches = epochBatches(windows, settings.batchSize, rng);
      let lossSum = 0;
      for (const [i, batch] of batches.entries()) {
        opts.signal?.throwIfAborted();
        const dropoutSeed = rng.uint32();
        const loss = optimizer.minimize(() => batchLoss(model, batch, dropoutSeed), true, model.variables());
        lossSum += (await loss!.data())[0]!;
        loss!.dispose();
        opts.onProgress?.({ phase: `sasrec epoch ${epoch}`, done: i + 1, total: batches.length });
        await yieldToEventLoop(); // heartbeats and polls keep flowing during training
      }
      const trainSeconds = (performance.now() - t0) / 1000;
      const validRecall10 = recallAt10(recommender, sequences);
      const log = { epoch, loss: lossSum / batches.length, validRecall10, seconds: (performance.now() - t0) / 1000, trainSeconds };
      epochs.push(log);
      opts.log?.(`sasrec epoch ${epoch}: loss ${log.loss.toFixed(4)}  valid R@10 ${validRecall10.toFixed(4)}  ${log.seconds.toFixed(1)} s (training ${trainSeconds.toFixed(1)} s)`);
      if (validRecall10 > best.recall) {
        best = { recall: validRecall10, epoch, weights: model.variables().map((v) => v.dataSync() as Float32Array) };
      } else if (epoch - best.epoch >= settings.patience) break;
    }
    model.variables().forEach((v, i) => v.assign(tf.tensor(best.weights[i]!, v.shape)));
  } finally {
    optimizer.dispose();
  }
  return { recommender, epochs, bestEpoch: best.epoch, trainSeconds: (performance.now() - started) / 1000 };
}

/** Mean cross-entropy of every real position's next item. */
function batchLoss(model: Sasrec, batch: TrainBatch, dropoutSeed: number): tf.Scalar {
  const picks: number[] = [];
  const targets: number[] = [];
  for (let i = 0; i < batch.items.length; i++) {
    if (batch.items[i] === 0) continue;
    picks.push(i);
    targets.push(batch.targets[i]!);
  }
  const h = gatherRows(model.hidden(batch, dropoutSeed), picks);
  // The target's logit as a row-wise dot product: tf.oneHot is ~100x slower on wasm (Tile + Equal).
  const targetLogit = tf.sum(tf.mul(h, model.itemRows(targets)), 1);
  return tf.mean(tf.sub(logSumExpRows(model.scores(h)), targetLogit));
}

/**
 * Row-wise log-sum-exp whose gradient is softmax(x) directly: tfjs differentiates through its
 * internal max, whose gradient (Equal + Tile over the whole [n, items] matrix) costs seconds on wasm.
 * The forward keeps exp(x - max) and its row sums, so the backward is one multiply over [n, items]
 * instead of recomputing the exponentials (a third less time per step on wasm).
 */
function logSumExpRows(x: tf.Tensor2D): tf.Tensor1D {
  return customOp({
    inputs: { x },
    forward: (save) => {
      const max = tf.max(x, 1, true);
      const exps = tf.exp(tf.sub(x, max));
      const sums = tf.sum(exps, 1, true);
      save([exps, sums]);
      return tf.reshape(tf.add(tf.log(sums), max), [x.shape[0]]);
    },
    backward: (dy, [exps, sums]) => ({
      x: () => tf.mul(exps!, tf.div(tf.expandDims(dy, 1), sums!)),
    }),
  }) as tf.Tensor1D;
}

type TrainBatch = Batch & { targets: Int32Array };

/**
 * Batches of similar-length windows (fewer padded positions): users shuffled, grouped into pools
 * of 32 batches sorted by length, batches shuffled. Inputs are item id + 1 (0 = padding).
 */
function epochBatches(windows: Int32Array[], batchSize: number, rng: Rng): TrainBatch[] {
  const order = rng.shuffle(Array.from(windows.keys()));
  const batches: TrainBatch[] = [];
  const pool = batchSize * 32;
  for (let p = 0; p < order.length; p += pool) {
    const sorted = order.slice(p, p + pool).sort((a, b) => windows[a]!.length - windows[b]!.length);
    for (let b = 0; b < sorted.length; b += batchSize) {
      const members = sorted.slice(b, b + batchSize).map((u) => windows[u]!);
      const length = Math.max(...members.map((w) => w.length - 1));
      const items = new Int32Array(members.length * length);
      const targets = new Int32Array(members.length * length);
      members.forEach((w, row) => {
        const pad = length - (w.length - 1);
        for (let t = 0; t < w.length - 1; t++) {
          items[row * length + pad + t] = w[t]! + 1;
          targets[row * length + pad + t] = w[t + 1]!;
        }
      });
      batches.push({ size: members.length, length, items, targets });
    }
  }
  return rng.shuffle(batches);
}

/** Scores all items for the newest position of each history; top-K by score. */
export function sasrecRecommender(model: Sasrec): Recommender {
  const recommendMany = (histories: Int32Array[], wanted: number): Recommendation[] => {
    const k = Math.min(wanted, model.shape.numItems);
    const results: Recommendation[] = new Array(histories.length);
    // Groups of similar length: a group is padded to its longest history.
    const order = Array.from(histories.keys()).sort((a, b) => Math.min(histories[a]!.length, model.shape.maxLength) - Math.min(histories[b]!.length, model.shape.maxLength) || a - b);
    for (let start = 0; start < order.length; start += 256) {
      const members = order.slice(start, start + 256);
      const group = members.map((u) => histories[u]!.slice(-model.shape.maxLength));
      const length = Math.max(1, ...group.map((h) => h.length));
      const items = new Int32Array(group.length * length);
      group.forEach((h, row) => h.forEach((item, t) => (items[row * length + length - h.length + t] = item + 1)));
      const last = Array.from(group, (_, row) => row * length + length - 1);
      const { values, indices } = tf.tidy(() => {
        const h = gatherRows(model.hidden({ size: group.length, length, items }), last);
        return tf.topk(model.scores(h), k);
      });
      const v = values.dataSync();
      const ix = indices.dataSync();
      tf.dispose([values, indices]);
      members.forEach((u, row) => {
        results[u] = { items: Int32Array.from(ix.subarray(row * k, row * k + k)), scores: Float64Array.from(v.subarray(row * k, row * k + k)) };
      });
    }
    return results;
  };
  return {
    name: 'sasrec',
    recommend: (history, k) => recommendMany([history], k)[0]!,
    recommendMany,
  };
}

function recallAt10(recommender: Recommender, sequences: Int32Array[]): number {
  const acc = new MetricsAccumulator();
  const cases = sequences.map((s) => evalCase(s, 'valid'));
  const lists = recommender.recommendMany!(cases.map((c) => c.history), 10);
  lists.forEach((list, i) => acc.add(rankOf(list.items, cases[i]!.target)));
  return acc.result()['recall@10'];
}
