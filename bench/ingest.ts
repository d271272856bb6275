/**
 * Ingestion throughput: the real Beauty data (LC-Rec format) when LCREC_DATASETS is set, and a
 * synthetic raw Amazon 2014 category of `--users` users (about 8.5 reviews each).
 * Prints one JSON line of figures. Not run by CI.
 *   node --import tsx bench/ingest.ts [--users 100000]
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeSyntheticDataset } from '../datasets/synthetic.js';
import { ingest } from '../src/data/ingest.js';

const { values } = parseArgs({ options: { users: { type: 'string', default: '100000' } } });
const users = Number(values.users);
const settings = { kCore: null, dedupe: true, requireMetadata: true, minSequenceLength: 5 };
const work = await mkdtemp(join(tmpdir(), 'lcrec-bench-'));
const figures: Record<string, unknown> = { node: process.version };
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);

try {
  const beauty = process.env.LCREC_DATASETS && join(process.env.LCREC_DATASETS, 'amazon2014-beauty');
  if (beauty && existsSync(beauty)) {
    const t0 = performance.now();
    const stats = await ingest(beauty, 'lcrec', settings, join(work, 'beauty'));
    figures.beauty_lcrec = { seconds: round((performance.now() - t0) / 1000), users: stats.users, items: stats.items, interactions: stats.interactions };
  }
  const raw = join(work, 'raw');
  const g0 = performance.now();
  const generated = await writeSyntheticDataset(raw, { seed: 1, users, items: Math.max(300, Math.round(users / 2)), category: 'Bench' });
  figures.synthetic_generate_seconds = round((performance.now() - g0) / 1000);
  peakRss = 0;
  const t0 = performance.now();
  const stats = await ingest(raw, 'amazon2014', settings, join(work, 'synthetic'));
  const seconds = (performance.now() - t0) / 1000;
  figures.synthetic_amazon2014 = {
    reviews: generated.reviews,
    seconds: round(seconds),
    reviews_per_second: Math.round(generated.reviews / seconds),
    peak_rss_mib: Math.round(peakRss / 2 ** 20),
    users: stats.users,
    items: stats.items,
    interactions: stats.interactions,
  };
} finally {
  clearInterval(sampler);
  await rm(work, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(figures)}\n`);

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
