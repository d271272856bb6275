/**
 * Ingestion at scale: writes synthetic raw Amazon 2014 categories of `--reviews` reviews each
 * (default 2 and 4 million; streamed in user order, so generating them is flat in memory) and
 * ingests each in a fresh child process, whose peak RSS is the figure. Two sizes show whether
 * memory grows with the data: ingestion streams into a scratch DuckDB with a fixed memory limit
 * (src/data/scratchDb.ts), so past the point where that pool is full it should not. With
 * LCREC_DATASETS set, the real Beauty (LC-Rec format) and Gift Cards (raw 2018) data are timed too.
 * The machines are shared: each figure carries the 1-minute load average before and after it, and
 * CPU seconds beside wall time. Prints one JSON line. Not run by CI.
 *   node --import tsx bench/ingest.ts [--reviews 2000000,4000000]
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeSyntheticDataset } from '../datasets/synthetic.js';
import type { DatasetFormat } from '../src/config/schema.js';
import { ingest } from '../src/data/ingest.js';

const SETTINGS = { kCore: null, dedupe: true, requireMetadata: true, minSequenceLength: 5 };
/** The generator writes about 8.26 reviews per user (measured). */
const REVIEWS_PER_USER = 8.2;

const { values } = parseArgs({
  options: {
    reviews: { type: 'string', default: '2000000,4000000' },
    // Internal: the child process that ingests one dataset and reports its own figures.
    child: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
  },
});

if (values.child !== undefined) {
  const t0 = performance.now();
  const stats = await ingest(values.child, values.format as DatasetFormat, SETTINGS, values.out!);
  const seconds = (performance.now() - t0) / 1000;
  // CPU time too: the machines are shared, and wall time alone mostly measures the neighbours.
  const usage = process.resourceUsage();
  const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
  process.stdout.write(
    `${JSON.stringify({
      reviews: stats.source.records,
      seconds: round(seconds),
      reviews_per_s: Math.round(stats.source.records / seconds),
      cpu_seconds: round(cpuSeconds),
      reviews_per_cpu_s: Math.round(stats.source.records / cpuSeconds),
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      users: stats.users,
      items: stats.items,
      interactions: stats.interactions,
    })}\n`,
  );
  process.exit(0);
}

/** Ingests `dir` in a fresh Node process so that its peak RSS is ingestion's alone. */
function ingestInChild(dir: string, format: DatasetFormat, out: string): Record<string, number> {
  const loadBefore = round(loadavg()[0]!);
  const stdout = execFileSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--child', dir, '--format', format, '--out', out], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const figures = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, number>;
  return { ...figures, load_1m_before: loadBefore, load_1m_after: round(loadavg()[0]!) };
}

async function synthetic(work: string, reviews: number): Promise<Record<string, number>> {
  const users = Math.ceil(reviews / REVIEWS_PER_USER);
  const dir = join(work, `synthetic-${reviews}`);
  const g0 = performance.now();
  const generated = await writeSyntheticDataset(dir, { seed: 1, users, items: Math.max(300, Math.round(users / 2)), category: 'Bench' }, { order: 'user', gzipLevel: 1 });
  const generateSeconds = round((performance.now() - g0) / 1000);
  const figures = ingestInChild(dir, 'amazon2014', join(work, `out-${reviews}`));
  await rm(dir, { recursive: true, force: true });
  await rm(join(work, `out-${reviews}`), { recursive: true, force: true });
  return { ...figures, reviews: generated.reviews, generate_seconds: generateSeconds };
}

const sizes = values.reviews.split(',').map(Number);
if (sizes.some((n) => !Number.isSafeInteger(n) || n < 1000)) throw new Error(`--reviews: comma-separated review counts, got ${values.reviews}`);
const work = await mkdtemp(join(tmpdir(), 'lcrec-bench-ingest-'));
const result: Record<string, unknown> = { bench: 'ingest', format: 'amazon2014 (synthetic, gzip JSON lines + Python-literal metadata)' };
try {
  const runs: Record<string, number>[] = [];
  for (const n of sizes) runs.push(await synthetic(work, n));
  const largest = runs[runs.length - 1]!;
  const smallest = runs[0]!;
  Object.assign(result, {
    reviews: largest.reviews,
    reviews_per_s: largest.reviews_per_s,
    peak_rss_mb: largest.peak_rss_mb,
    sizes: runs,
    // Growth of peak memory per extra million reviews between the smallest and largest size.
    rss_mb_per_million_reviews: runs.length > 1 ? round(((largest.peak_rss_mb! - smallest.peak_rss_mb!) / (largest.reviews! - smallest.reviews!)) * 1e6) : null,
  });
  const base = process.env.LCREC_DATASETS;
  for (const [name, format] of [['amazon2014-beauty', 'lcrec'], ['amazon2018-gift-cards-raw', 'amazon2018']] as const) {
    const dir = base && join(base, name);
    if (dir && existsSync(dir)) result[name] = ingestInChild(dir, format, join(work, `${name}-out`));
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
result.cpus = cpus().length;
result.node = process.version;
process.stdout.write(`${JSON.stringify(result)}\n`);

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
