/**
 * Baselines on a real dataset (default: Amazon 2014 Beauty in LC-Rec format from LCREC_DATASETS)
 * with the `paper` preset's settings: valid and test Recall/NDCG@5/10 of every baseline and
 * SASRec's training time (epochs, seconds per epoch of training alone) and the machine's load
 * average, which the times depend on (the wasm kernels use one core). Prints one JSON line. Not run
 * by CI (SASRec on Beauty: 15 epochs of ~100 s on an idle core, ~40 minutes on 2 shared cores).
 *   node --import tsx bench/baselines.ts [--source DIR --format lcrec] [--set baselines.models=[popularity,item-transition]]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runBaselines } from '../src/baselines/runBaselines.js';
import { resolveConfig } from '../src/config/load.js';
import { ingest } from '../src/data/ingest.js';
import { assertFormat } from '../src/data/sources.js';

const { values } = parseArgs({
  options: { source: { type: 'string' }, format: { type: 'string', default: 'lcrec' }, set: { type: 'string', multiple: true } },
});
const source = values.source ?? (process.env.LCREC_DATASETS && join(process.env.LCREC_DATASETS, 'amazon2014-beauty'));
if (!source) throw new Error('give --source DIR or set LCREC_DATASETS');
const config = await resolveConfig({ preset: 'paper', sets: [`dataset.source=${source}`, ...(values.set ?? [])] });
const work = await mkdtemp(join(tmpdir(), 'lcrec-bench-baselines-'));
try {
  const stats = await ingest(source, assertFormat(values.format), config.ingest, join(work, 'data'));
  const loadAtStart = loadavg()[0]!;
  const started = performance.now();
  const report = await runBaselines(join(work, 'data'), work, config.baselines, { seed: config.seed, log: (l) => process.stderr.write(`${l}\n`) });
  const round = (x: number) => Math.round(x * 10000) / 10000;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const metrics: Record<string, Record<string, Record<string, number>>> = {};
  for (const [split, models] of Object.entries(report.splits)) {
    for (const [model, m] of Object.entries(models)) {
      (metrics[model] ??= {})[split] = { r5: round(m['recall@5']), r10: round(m['recall@10']), n5: round(m['ndcg@5']), n10: round(m['ndcg@10']) };
    }
  }
  process.stdout.write(
    `${JSON.stringify({
      users: stats.users,
      items: stats.items,
      metrics,
      sasrec: report.sasrec && {
        settings: config.baselines.sasrec,
        train_seconds: Math.round(report.sasrec.trainSeconds),
        best_epoch: report.sasrec.bestEpoch,
        epochs: report.sasrec.epochs.length,
        seconds_per_epoch: round(mean(report.sasrec.epochs.map((e) => e.trainSeconds))),
        validation_seconds_per_epoch: round(mean(report.sasrec.epochs.map((e) => e.seconds - e.trainSeconds))),
        backend: report.sasrec.backend,
      },
      load_average: { start: round(loadAtStart), end: round(loadavg()[0]!) },
      total_seconds: Math.round((performance.now() - started) / 1000),
    })}\n`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
