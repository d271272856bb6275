import type { Recommender } from '../baselines/recommender.js';
import { evalCase, type EvalSplit } from '../data/datasetReader.js';
import { MetricsAccumulator, rankOf, type Metrics } from './metrics.js';

/** Top-K lists of one model on one split, as columns: the rows of `predictions.parquet`. */
export interface PredictionColumns {
  user: Int32Array;
  rank: Int32Array;
  item: Int32Array;
  score: Float64Array;
}

/** Ranks every user's held-out item (full ranking over all items) and averages the metrics. */
export function evaluateSplit(
  recommender: Recommender,
  sequences: Int32Array[],
  split: EvalSplit,
  k: number,
): { metrics: Metrics; predictions: PredictionColumns } {
  const acc = new MetricsAccumulator();
  const rows = sequences.length * k;
  const out: PredictionColumns = { user: new Int32Array(rows), rank: new Int32Array(rows), item: new Int32Array(rows), score: new Float64Array(rows) };
  let row = 0;
  const batch = recommender.recommendMany ? 512 : 1;
  for (let start = 0; start < sequences.length; start += batch) {
    const cases = sequences.slice(start, start + batch).map((sequence) => evalCase(sequence, split));
    const lists = recommender.recommendMany
      ? recommender.recommendMany(cases.map((c) => c.history), k)
      : cases.map((c) => recommender.recommend(c.history, k));
    lists.forEach(({ items, scores }, i) => {
      acc.add(rankOf(items, cases[i]!.target));
      for (let r = 0; r < items.length; r++, row++) {
        out.user[row] = start + i;
        out.rank[row] = r;
        out.item[row] = items[r]!;
        out.score[row] = scores[r]!;
      }
    });
  }
  const trim = <T extends Int32Array | Float64Array>(a: T) => a.subarray(0, row) as T;
  return { metrics: acc.result(), predictions: { user: trim(out.user), rank: trim(out.rank), item: trim(out.item), score: trim(out.score) } };
}
