import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { readSequenceData, trainingPart, type EvalSplit } from '../data/datasetReader.js';
import type { ProgressSink } from '../data/itemText.js';
import { evaluateSplit, type PredictionColumns } from '../eval/evaluate.js';
import type { Metrics } from '../eval/metrics.js';
import { writeParquet } from '../tables/parquet.js';
import { itemTransitionRecommender } from './itemTransition.js';
import { countPopularity, popularityRecommender } from './popularity.js';
import type { BaselinesConfig } from '../config/schema.js';
import { initTensorEngine } from '../tensor/init.js';
import type { BaselineModel } from './models.js';
import { trainSasrec, type EpochLog } from './sasrec/train.js';
import type { Recommender } from './recommender.js';

export const BASELINES_CODE_VERSION = 'baselines/2';
const SPLITS: EvalSplit[] = ['valid', 'test'];

export type BaselineSettings = BaselinesConfig;

/** metrics.json: `splits[split][model]` holds Recall/NDCG at 1, 5, 10. */
export interface BaselineReport {
  protocol: string;
  splits: Record<EvalSplit, Record<string, Metrics>>;
  /** SASRec's training: epochs run, the epoch kept, seconds, the tensor backend. */
  sasrec?: { epochs: EpochLog[]; bestEpoch: number; trainSeconds: number; backend: string };
}

/**
 * Fits each baseline on the training part of an ingested dataset (every sequence minus its last
 * two items) and evaluates it on the valid and test targets with the shared metric code. Writes
 * `metrics.json` and `predictions.parquet` (model, split, user_id, rank, item_id, score).
 */
export async function runBaselines(
  dataDir: string,
  outDir: string,
  settings: BaselineSettings,
  opts: { seed: number; onProgress?: ProgressSink; signal?: AbortSignal; log?: (line: string) => void },
): Promise<BaselineReport> {
  const { sequences, numItems } = await readSequenceData(dataDir);
  const train = sequences.map(trainingPart);
  const popularity = countPopularity(train, numItems);
  const report: BaselineReport = {
    protocol: 'leave-one-out, full ranking over all items, one target per user; fit on each sequence minus its last two items',
    splits: { valid: {}, test: {} },
  };
  const build: Record<BaselineModel, () => Promise<Recommender>> = {
    popularity: async () => popularityRecommender(popularity),
    'item-transition': async () => itemTransitionRecommender(train, popularity),
    sasrec: async () => {
      const backend = await initTensorEngine({ log: opts.log });
      const result = await trainSasrec(sequences, numItems, settings.sasrec, opts.seed, opts);
      report.sasrec = { epochs: result.epochs, bestEpoch: result.bestEpoch, trainSeconds: result.trainSeconds, backend: backend.name };
      return result.recommender;
    },
  };
  const parts: { model: string; split: string; columns: PredictionColumns }[] = [];
  let done = 0;
  for (const model of settings.models) {
    const recommender = await build[model]();
    for (const split of SPLITS) {
      const { metrics, predictions } = evaluateSplit(recommender, sequences, split, settings.topK);
      report.splits[split][model] = metrics;
      parts.push({ model, split, columns: predictions });
      opts.onProgress?.({ phase: 'evaluating', done: ++done, total: settings.models.length * SPLITS.length });
    }
  }
  await writeParquet(join(outDir, 'predictions.parquet'), predictionsTable(parts));
  await writeFile(join(outDir, 'metrics.json'), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

function predictionsTable(parts: { model: string; split: string; columns: PredictionColumns }[]): arrow.Table {
  const concat = <T extends Int32Array | Float64Array>(pick: (c: PredictionColumns) => T, make: (n: number) => T): T => {
    const out = make(parts.reduce((n, p) => n + pick(p.columns).length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(pick(p.columns), at);
      at += pick(p.columns).length;
    }
    return out;
  };
  const repeat = (value: (p: (typeof parts)[number]) => string) =>
    parts.flatMap((p) => new Array<string>(p.columns.user.length).fill(value(p)));
  const dictionary = (values: string[]) => arrow.vectorFromArray(values, new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()));
  return new arrow.Table({
    model: dictionary(repeat((p) => p.model)),
    split: dictionary(repeat((p) => p.split)),
    user_id: arrow.makeVector(concat((c) => c.user, (n) => new Int32Array(n))),
    rank: arrow.makeVector(concat((c) => c.rank, (n) => new Int32Array(n))),
    item_id: arrow.makeVector(concat((c) => c.item, (n) => new Int32Array(n))),
    score: arrow.makeVector(concat((c) => c.score, (n) => new Float64Array(n))),
  });
}
