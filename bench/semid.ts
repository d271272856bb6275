/**
 * Semantic-ID assignment + collision repair on 12,101 items (the size of Beauty), from synthetic
 * RQ-VAE output: `--levels` levels of 256 codes; prefixes drawn from a skewed pool, last-level
 * residuals = prefix centre + noise, so argmin codes collide at a realistic rate (a few percent),
 * plus 1.27% duplicate items (identical residuals, as in Beauty). Cost rows are squared distances to a random
 * last codebook, computed on demand like the real cost function. Times both repair strategies, the
 * trie and writing the four files.
 * With LCREC_DATASETS set, also ingests Beauty (LC-Rec format) to a temp dir and times the TF-IDF
 * encoder on its 12,101 items (default settings, 768 dims), and counts items whose TF-IDF vector
 * is identical to another item's (duplicate text: they will need the extra level).
 * Prints one JSON line; `seconds` is assignment + repair with the default strategy. Not run by CI.
 *   node --import tsx bench/semid.ts [--levels 4] [--items 12101]
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ingest } from '../src/data/ingest.js';
import { readItems } from '../src/embed/embedItems.js';
import { DEFAULT_TFIDF_SETTINGS, encodeTfidf } from '../src/embed/tfidf.js';
import { assignSemanticIds, DEFAULT_REPAIR_SETTINGS } from '../src/semid/assign.js';
import type { LastLevelCosts, RepairStrategy } from '../src/semid/assign.js';
import { SemanticIdTrie } from '../src/semid/trie.js';
import { writeSemanticIds } from '../src/semid/writeSemanticIds.js';
import { Rng } from '../src/tensor/rng.js';

const { values } = parseArgs({ options: { levels: { type: 'string', default: '4' }, items: { type: 'string', default: '12101' } } });
const levels = Number(values.levels);
const n = Number(values.items);
const K = 256;
const LATENT = 32;
const NOISE = Number(process.env.NOISE ?? 6);
/** Share of items that duplicate an earlier one: 1.27% of Beauty items have a TF-IDF vector identical to another item. */
const DUPLICATES = 0.0127;
const work = await mkdtemp(join(tmpdir(), 'lcrec-bench-semid-'));
const figures: Record<string, unknown> = { node: process.version, items: n, levels, codebook: K };

function synthetic(seed: number): { codes: Int32Array; costs: LastLevelCosts } {
  const rng = new Rng(seed);
  const pool = Math.round(n / 12); // ~12 items per prefix on average, skewed below
  const prefixes = Array.from({ length: pool }, () => Array.from({ length: levels - 1 }, () => rng.int(K)));
  const centres = Array.from({ length: pool }, () => rng.fillNormal(new Float64Array(LATENT)));
  const codebook = rng.fillNormal(new Float64Array(K * LATENT));
  const residual = new Float64Array(n * LATENT);
  const codes = new Int32Array(n * levels);
  for (let i = 0; i < n; i++) {
    const dup = i > 0 && rng.float() < DUPLICATES;
    const p = dup ? -1 : Math.min(pool - 1, Math.floor(pool * rng.float() ** 1.5)); // skewed: popular prefixes
    if (dup) {
      const j = rng.int(i);
      residual.copyWithin(i * LATENT, j * LATENT, (j + 1) * LATENT);
      codes.copyWithin(i * levels, j * levels, (j + 1) * levels);
      continue;
    }
    for (let d = 0; d < LATENT; d++) residual[i * LATENT + d] = (centres[p] as Float64Array)[d]! + NOISE * rng.normal();
    codes.set(prefixes[p] as number[], i * levels);
  }
  const dist = (i: number, k: number) => {
    let s = 0;
    for (let d = 0; d < LATENT; d++) s += (residual[i * LATENT + d]! - codebook[k * LATENT + d]!) ** 2;
    return s;
  };
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (dist(i, k) < dist(i, best)) best = k;
    codes[i * levels + levels - 1] = best;
  }
  const costs: LastLevelCosts = (items) => {
    const out = new Float32Array(items.length * K);
    items.forEach((item, r) => {
      for (let k = 0; k < K; k++) out[r * K + k] = dist(item, k);
    });
    return out;
  };
  return { codes, costs };
}

const seconds = (t0: number) => Math.round(performance.now() - t0) / 1000;

try {
  const { codes, costs } = synthetic(1);
  for (const strategy of ['free-codes', 'official'] as RepairStrategy[]) {
    const t0 = performance.now();
    const result = assignSemanticIds({ codes, codebookSizes: Array(levels).fill(K), costs, settings: { ...DEFAULT_REPAIR_SETTINGS, strategy } });
    const assignSeconds = seconds(t0);
    const r = result.report;
    const entry: Record<string, unknown> = {
      assign_repair_s: assignSeconds,
      collision_rate_before: r.before.collisionRate,
      collision_rate_after_sinkhorn: r.afterSinkhorn.collisionRate,
      colliding_groups_before: r.before.groups,
      rounds: r.sinkhornRounds,
      stopped: r.stoppedBecause,
      extra_level_items: r.extraLevel.items,
      extra_level_groups_identical: `${r.extraLevel.identicalCostGroups}/${r.extraLevel.groups}`,
    };
    if (strategy === 'free-codes') {
      const t1 = performance.now();
      SemanticIdTrie.build(result.codes, result.levels);
      entry.trie_s = seconds(t1);
      const t2 = performance.now();
      await writeSemanticIds(work, result);
      entry.write_files_s = seconds(t2);
    }
    figures[strategy] = entry;
    // The headline figure: assignment + repair with the default strategy.
    if (strategy === DEFAULT_REPAIR_SETTINGS.strategy) figures.seconds = assignSeconds;
  }

  const beauty = process.env.LCREC_DATASETS && join(process.env.LCREC_DATASETS, 'amazon2014-beauty');
  if (beauty && existsSync(beauty)) {
    const out = join(work, 'beauty');
    const t0 = performance.now();
    await ingest(beauty, 'lcrec', { kCore: null, dedupe: true, requireMetadata: true, minSequenceLength: 5 }, out);
    const ingestSeconds = seconds(t0);
    const items = await readItems(join(out, 'items.parquet'));
    const t1 = performance.now();
    const tfidf = await encodeTfidf(items.text, DEFAULT_TFIDF_SETTINGS, { seed: 2024 });
    const tfidfSeconds = seconds(t1);
    const dim = tfidf.dim;
    const seen = new Map<string, number>();
    for (let i = 0; i < items.count; i++) {
      const h = createHash('sha1').update(tfidf.embeddings.subarray(i * dim, (i + 1) * dim)).digest('hex');
      seen.set(h, (seen.get(h) ?? 0) + 1);
    }
    let duplicated = 0;
    for (const c of seen.values()) if (c > 1) duplicated += c;
    figures.beauty_tfidf = { ingest_s: ingestSeconds, tfidf_s: tfidfSeconds, items: items.count, dim, vocabulary: tfidf.stats.vocabulary, empty_items: tfidf.stats.emptyItems, items_with_identical_vector: duplicated };
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
console.log(JSON.stringify(figures));
