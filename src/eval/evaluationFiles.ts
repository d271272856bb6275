/**
 * The evaluate stage's files, and the deterministic merge of shards (issue 8 item 3).
 *
 * A shard directory (one per activity) and the merged directory hold the same two tables, rows
 * ordered by (split, template) as listed in the JSON, then user, then rank:
 *   predictions.parquet  split utf8, template int32, user_id int32, rank int32 (0 = best),
 *                        item_id int32, score float64: the finished beams, at most beamWidth per
 *                        user. score = log P(item | prompt) with P the model's distribution
 *                        renormalised over the valid semantic IDs at every step (beamSearch.ts);
 *                        exp(score) over all items sums to 1, so scores compare across users.
 *   targets.parquet      split, template, user_id, target_item, target_rank (-1: not in the beams)
 * plus `shard.json` in a shard (which users, which parts, how many prediction rows each) and
 * `metrics.json` in the merged directory:
 *   { format, protocol, score, beamWidth, users, templates: [ids], splits: {
 *       valid: { templates: { "<id>": Metrics, ... }, mean: Metrics, min: Metrics, max: Metrics },
 *       test: { ... } } }
 *   Metrics = { users, "recall@1", "recall@5", "recall@10", "ndcg@1", "ndcg@5", "ndcg@10" }
 *   (formulas in metrics.ts); mean/min/max are over templates (equal to the one template's figures
 *   in single-template mode). Nothing in metrics.json depends on timing or on the shard count.
 *
 * The merge concatenates the shards' columns in user order and recomputes every metric from the
 * target ranks in user order, so 1 shard and N shards give identical bytes.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { z } from 'zod';
import type { EvalSplit } from '../data/datasetReader.js';
import { BadInputError } from '../errors.js';
import { readParquet, writeParquet } from '../tables/parquet.js';
import type { PredictionColumns } from './evaluate.js';
import type { EvaluationPart, UsersEvaluation } from './generative.js';
import { metricsFromRanks, summarizeTemplates, type Metrics } from './metrics.js';
import { EVAL_SPLITS } from './settings.js';
import { parseWithSchema, readJsonFile } from '../util/jsonFile.js';

export const PREDICTIONS_FILE = 'predictions.parquet';
export const TARGETS_FILE = 'targets.parquet';
export const SHARD_FILE = 'shard.json';
export const METRICS_FILE = 'metrics.json';
export const METRICS_FORMAT = 'lcrec.generative_metrics/1';
const SHARD_FORMAT = 'lcrec.evaluation_shard/1';

export const PROTOCOL =
  'leave-one-out (valid: second-to-last item, test: last item), one target per user, full ranking: trie-constrained beam search over every item, no sampled negatives';
export const SCORE_MEANING =
  'sum over the semantic ID code steps of the log-probability renormalised over the codes the prefix trie allows = log P(item | prompt) over valid items';

const SplitMetrics = z.object({ users: z.number() }).catchall(z.number());

export interface SplitReport {
  templates: Record<string, Metrics>;
  mean: Metrics;
  min: Metrics;
  max: Metrics;
}

export interface EvaluationMetrics {
  format: typeof METRICS_FORMAT;
  protocol: string;
  score: string;
  beamWidth: number;
  users: number;
  templates: number[];
  splits: Partial<Record<EvalSplit, SplitReport>>;
}

const PREDICTIONS_SCHEMA = {
  user_id: new arrow.Int32(),
  rank: new arrow.Int32(),
  item_id: new arrow.Int32(),
  score: new arrow.Float64(),
  template: new arrow.Int32(),
};
const TARGETS_SCHEMA = {
  user_id: new arrow.Int32(),
  target_item: new arrow.Int32(),
  target_rank: new arrow.Int32(),
  template: new arrow.Int32(),
};

const ShardJson = z.strictObject({
  format: z.literal(SHARD_FORMAT),
  shard: z.int().min(0),
  shards: z.int().min(1),
  users: z.strictObject({ from: z.int().min(0), to: z.int().min(0) }),
  beamWidth: z.int().min(1),
  parts: z.array(z.strictObject({ split: z.enum(EVAL_SPLITS), template: z.int().min(0), predictionRows: z.int().min(0) })).min(1),
});
type ShardJson = z.infer<typeof ShardJson>;

/** Writes one shard's evaluation (tables first, shard.json last). */
export async function writeShard(dir: string, evaluation: UsersEvaluation, shard: number, shards: number): Promise<void> {
  await writeTables(dir, evaluation.parts);
  const meta: ShardJson = {
    format: SHARD_FORMAT,
    shard,
    shards,
    users: evaluation.users,
    beamWidth: evaluation.beamWidth,
    parts: evaluation.parts.map((p) => ({ split: p.split, template: p.template, predictionRows: p.predictions.user.length })),
  };
  await writeJsonAtomic(join(dir, SHARD_FILE), meta);
}

export interface ShardData {
  shard: number;
  shards: number;
  beamWidth: number;
  evaluation: Omit<UsersEvaluation, 'timing'>;
}

/** Reads a shard directory back, checking the tables against shard.json. */
export async function readShard(dir: string): Promise<ShardData> {
  const metaFile = join(dir, SHARD_FILE);
  const meta = parseWithSchema(ShardJson, await readJsonFile(metaFile), metaFile);
  const { from, to } = meta.users;
  if (to < from) throw new BadInputError(`users.to ${to} is before users.from ${from}`, { file: metaFile, field: 'users' });
  const count = to - from;
  const predFile = join(dir, PREDICTIONS_FILE);
  const targFile = join(dir, TARGETS_FILE);
  const pred = columns(await readParquet(predFile, PREDICTIONS_SCHEMA), PREDICTIONS_SCHEMA);
  const targ = columns(await readParquet(targFile, TARGETS_SCHEMA), TARGETS_SCHEMA);
  const predRows = meta.parts.reduce((n, p) => n + p.predictionRows, 0);
  if (pred.user_id.length !== predRows) throw new BadInputError(`${pred.user_id.length} rows, but ${SHARD_FILE} lists ${predRows}`, { file: predFile });
  if (targ.user_id.length !== count * meta.parts.length) throw new BadInputError(`${targ.user_id.length} rows, expected ${count} users x ${meta.parts.length} parts`, { file: targFile });
  let at = 0;
  const parts: EvaluationPart[] = meta.parts.map((p, i) => {
    const rows = { from: at, to: at + p.predictionRows };
    at = rows.to;
    const t = { from: i * count, to: (i + 1) * count };
    for (let r = rows.from; r < rows.to; r++) {
      const user = pred.user_id[r] as number;
      if (pred.template[r] !== p.template || user < from || user >= to) throw new BadInputError(`row ${r} (user ${user}, template ${pred.template[r]}) does not belong to part ${i} (template ${p.template}, users ${from}..${to - 1})`, { file: predFile });
    }
    for (let r = t.from; r < t.to; r++) {
      if (targ.template[r] !== p.template || targ.user_id[r] !== from + r - t.from) throw new BadInputError(`row ${r} is not user ${from + r - t.from} of template ${p.template}`, { file: targFile });
    }
    return {
      split: p.split,
      template: p.template,
      users: { from, to },
      target: targ.target_item.slice(t.from, t.to),
      targetRank: targ.target_rank.slice(t.from, t.to),
      predictions: {
        user: pred.user_id.slice(rows.from, rows.to),
        rank: pred.rank.slice(rows.from, rows.to),
        item: pred.item_id.slice(rows.from, rows.to),
        score: pred.score.slice(rows.from, rows.to),
      },
    };
  });
  return { shard: meta.shard, shards: meta.shards, beamWidth: meta.beamWidth, evaluation: { users: meta.users, beamWidth: meta.beamWidth, parts } };
}

/**
 * Joins the shards of one evaluation, in shard order: they must be shards 0..n-1 of the same n,
 * cover users 0..users-1 without gap or overlap, and list the same parts with the same beam width.
 */
export function mergeShards(shards: readonly ShardData[], users: number): Omit<UsersEvaluation, 'timing'> {
  if (shards.length === 0) throw new RangeError('no shards to merge');
  const sorted = [...shards].sort((a, b) => a.shard - b.shard);
  const first = sorted[0] as ShardData;
  const partKey = (s: ShardData) => s.evaluation.parts.map((p) => `${p.split}/${p.template}`).join(',');
  let next = 0;
  sorted.forEach((s, i) => {
    if (s.shard !== i || s.shards !== sorted.length) throw new RangeError(`expected shard ${i} of ${sorted.length}, got shard ${s.shard} of ${s.shards}`);
    if (s.beamWidth !== first.beamWidth || partKey(s) !== partKey(first)) throw new RangeError(`shard ${s.shard} was evaluated with other settings than shard 0`);
    if (s.evaluation.users.from !== next) throw new RangeError(`shard ${s.shard} starts at user ${s.evaluation.users.from}, expected ${next}`);
    next = s.evaluation.users.to;
  });
  if (next !== users) throw new RangeError(`the shards cover users 0..${next - 1}, the dataset has ${users}`);
  const parts = first.evaluation.parts.map((p, i): EvaluationPart => {
    const pieces = sorted.map((s) => s.evaluation.parts[i] as EvaluationPart);
    return {
      split: p.split,
      template: p.template,
      users: { from: 0, to: users },
      target: concat(pieces.map((x) => x.target), Int32Array),
      targetRank: concat(pieces.map((x) => x.targetRank), Int32Array),
      predictions: {
        user: concat(pieces.map((x) => x.predictions.user), Int32Array),
        rank: concat(pieces.map((x) => x.predictions.rank), Int32Array),
        item: concat(pieces.map((x) => x.predictions.item), Int32Array),
        score: concat(pieces.map((x) => x.predictions.score), Float64Array),
      },
    };
  });
  return { users: { from: 0, to: users }, beamWidth: first.beamWidth, parts };
}

/** metrics.json of a complete evaluation. */
export function evaluationMetrics(evaluation: Omit<UsersEvaluation, 'timing'>): EvaluationMetrics {
  const templates = [...new Set(evaluation.parts.map((p) => p.template))];
  const splits: Partial<Record<EvalSplit, SplitReport>> = {};
  for (const split of EVAL_SPLITS) {
    const parts = evaluation.parts.filter((p) => p.split === split);
    if (parts.length === 0) continue;
    const perTemplate = parts.map((p) => metricsFromRanks(p.targetRank));
    splits[split] = {
      templates: Object.fromEntries(parts.map((p, i) => [String(p.template), perTemplate[i] as Metrics])),
      ...summarizeTemplates(perTemplate),
    };
  }
  return {
    format: METRICS_FORMAT,
    protocol: PROTOCOL,
    score: SCORE_MEANING,
    beamWidth: evaluation.beamWidth,
    users: evaluation.users.to - evaluation.users.from,
    templates,
    splits,
  };
}

/** Writes the merged evaluation: predictions.parquet, targets.parquet, then metrics.json. */
export async function writeEvaluation(dir: string, evaluation: Omit<UsersEvaluation, 'timing'>): Promise<EvaluationMetrics> {
  await writeTables(dir, evaluation.parts);
  const metrics = evaluationMetrics(evaluation);
  await writeJsonAtomic(join(dir, METRICS_FILE), metrics);
  return metrics;
}

/** Reads and checks a merged metrics.json (for `lcrec recommend`, the report and the CLI table). */
export async function readEvaluationMetrics(dir: string): Promise<EvaluationMetrics> {
  const file = join(dir, METRICS_FILE);
  const schema = z.object({
    format: z.literal(METRICS_FORMAT),
    protocol: z.string(),
    score: z.string(),
    beamWidth: z.int().min(1),
    users: z.int().min(0),
    templates: z.array(z.int()),
    splits: z.partialRecord(z.enum(EVAL_SPLITS), z.object({ templates: z.record(z.string(), SplitMetrics), mean: SplitMetrics, min: SplitMetrics, max: SplitMetrics })),
  });
  return parseWithSchema(schema, await readJsonFile(file), file) as EvaluationMetrics;
}

async function writeTables(dir: string, parts: readonly EvaluationPart[]): Promise<void> {
  // The split as a dictionary column with a fixed dictionary (every split name), built from indices.
  const dictionary = arrow.vectorFromArray([...EVAL_SPLITS], new arrow.Utf8());
  const split = (n: (p: EvaluationPart) => number) =>
    arrow.makeVector(
      arrow.makeData({
        type: new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()),
        data: concat(parts.map((p) => new Int32Array(n(p)).fill(EVAL_SPLITS.indexOf(p.split))), Int32Array),
        dictionary,
      }),
    );
  const template = (n: (p: EvaluationPart) => number) => arrow.makeVector(concat(parts.map((p) => new Int32Array(n(p)).fill(p.template)), Int32Array));
  const predRows = (p: EvaluationPart) => p.predictions.user.length;
  const targRows = (p: EvaluationPart) => p.target.length;
  const cols = <K extends keyof PredictionColumns>(k: K) => parts.map((p) => p.predictions[k]);
  await writeParquet(
    join(dir, PREDICTIONS_FILE),
    new arrow.Table({
      split: split(predRows),
      template: template(predRows),
      user_id: arrow.makeVector(concat(cols('user'), Int32Array)),
      rank: arrow.makeVector(concat(cols('rank'), Int32Array)),
      item_id: arrow.makeVector(concat(cols('item'), Int32Array)),
      score: arrow.makeVector(concat(cols('score'), Float64Array)),
    }),
  );
  await writeParquet(
    join(dir, TARGETS_FILE),
    new arrow.Table({
      split: split(targRows),
      template: template(targRows),
      user_id: arrow.makeVector(concat(parts.map((p) => Int32Array.from({ length: p.target.length }, (_, i) => p.users.from + i)), Int32Array)),
      target_item: arrow.makeVector(concat(parts.map((p) => p.target), Int32Array)),
      target_rank: arrow.makeVector(concat(parts.map((p) => p.targetRank), Int32Array)),
    }),
  );
}

function columns<S extends Record<string, arrow.Int32 | arrow.Float64>>(table: arrow.Table, schema: S): { [K in keyof S]: S[K] extends arrow.Float64 ? Float64Array : Int32Array } {
  return Object.fromEntries(Object.keys(schema).map((name) => [name, table.getChild(name)!.toArray()])) as never;
}

function concat<T extends Int32Array | Float64Array>(arrays: readonly T[], Type: { new (n: number): T }): T {
  const out = new Type(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}


