import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatasetFormat } from '../config/schema.js';
import { BadInputError } from '../errors.js';
import { writeParquet } from '../tables/parquet.js';
import { interactionsTable, itemsTable, sequencesTable } from './datasetTables.js';
import { readAmazon2014, type RawDataset, type ReadOptions } from './formats/amazon2014.js';
import { readAmazon2018 } from './formats/amazon2018.js';
import { readAmazon2023 } from './formats/amazon2023.js';
import { readLcRec } from './formats/lcrec.js';
import { readRecboleAtomic, readRecboleSplits } from './formats/recbole.js';
import { detectFormat } from './detect.js';
import type { ItemText } from './itemText.js';
import { buildSequences, withGivenIds, type SequenceSet } from './sequences.js';
import { resolveSourceFiles, type SourceFiles } from './sources.js';

/** Bumped whenever a change alters what ingestion writes, so cached artifacts are not reused. */
export const INGEST_CODE_VERSION = 'ingest/1';

export const INGEST_OUTPUTS = ['interactions.parquet', 'items.parquet', 'sequences.parquet', 'stats.json'] as const;

export interface IngestSettings {
  /** Iterative k-core threshold; null = the format's default (5 for raw data, off for preprocessed). */
  kCore: number | null;
  dedupe: boolean;
  requireMetadata: boolean;
  minSequenceLength: number;
}

/**
 * Formats that arrive already filtered (LC-Rec json, sequential splits) keep their data as given
 * unless asked otherwise; raw releases and RecBole atomic dumps get the official 5-core.
 */
export const DEFAULT_K_CORE: Record<DatasetFormat, number> = {
  amazon2014: 5,
  lcrec: 0,
  amazon2018: 5,
  amazon2023: 5,
  recbole: 5,
  'recbole-splits': 0,
};

export interface IngestStats {
  format: DatasetFormat;
  users: number;
  items: number;
  interactions: number;
  avgSequenceLength: number;
  minSequenceLength: number;
  maxSequenceLength: number;
  density: number;
  /** Item and user ids are the source's own indices (LC-Rec format) rather than first-appearance ids. */
  sourceIdsKept: boolean;
  kCore: number;
  kCoreRounds: number;
  source: { records: number; metadataRecords: number; users: number; items: number; itemsWithMetadata: number };
  dropped: SequenceSet['dropped'];
  tieBreak: string;
}

export async function readSource(sources: SourceFiles, opts: ReadOptions): Promise<RawDataset> {
  const f = sources.files;
  switch (sources.format) {
    case 'amazon2014':
      return readAmazon2014({ reviews: f.reviews!, meta: f.meta! }, opts);
    case 'lcrec':
      return readLcRec({ inter: f.inter!, item: f.item! }, opts);
    case 'amazon2018':
      return readAmazon2018({ reviews: f.reviews!, meta: f.meta! }, opts);
    case 'amazon2023':
      return readAmazon2023({ reviews: f.reviews!, meta: f.meta! }, opts);
    case 'recbole':
      return readRecboleAtomic({ inter: f.inter!, item: f.item }, opts);
    case 'recbole-splits':
      return readRecboleSplits({ train: f.train!, valid: f.valid!, test: f.test!, item: f.item }, opts);
  }
}

/**
 * Reads a dataset in `format` (undefined: detected from the files) from `source` (a file or
 * directory) and writes interactions, items and sequences Parquet files plus stats.json into
 * `outDir`. Raw files are streamed. The outputs are written into a scratch directory inside
 * `outDir` and moved into place only when all four are complete: bad input leaves nothing.
 */
export async function ingest(
  source: string | SourceFiles,
  format: DatasetFormat | undefined,
  settings: IngestSettings,
  outDir: string,
  opts: ReadOptions = {},
): Promise<IngestStats> {
  const files =
    typeof source !== 'string' ? source : format === undefined ? await detectFormat(source) : await resolveSourceFiles(source, format);
  format = files.format;
  const raw = await readSource(files, opts);
  const mainFile = Object.values(files.files)[0]!;
  if (raw.log.length === 0) throw new BadInputError('the dataset holds no interactions', { file: mainFile });

  const kCore = settings.kCore ?? DEFAULT_K_CORE[format];
  opts.onProgress?.({ phase: 'filtering', done: 0, total: raw.log.length });
  let set = buildSequences(raw.log, {
    dedupe: settings.dedupe,
    kCore,
    minSequenceLength: settings.minSequenceLength,
    // A source without any item file (RecBole without `.item`) has nothing to require.
    itemHasMetadata: settings.requireMetadata && raw.hasMetadata !== false ? (item) => raw.items.has(item) : undefined,
  });
  if (set.sequences.length === 0) {
    throw new BadInputError(
      `no user survives filtering (k-core ${kCore}, minimum sequence length ${settings.minSequenceLength}); ` +
        `dropped: ${JSON.stringify(set.dropped)}`,
      { file: mainFile },
    );
  }
  const kept = raw.givenIds && withGivenIds(set, raw.givenIds.users, raw.givenIds.items);
  if (kept) set = kept;
  opts.signal?.throwIfAborted();

  const text = (item: number): ItemText =>
    raw.items.get(item) ?? { asin: null, title: '', description: '', brand: '', categories: '', price: null };
  const stats = statsOf(set, raw, format, kCore, kept !== undefined);
  opts.onProgress?.({ phase: 'writing', done: 0, total: 3 });
  await mkdir(outDir, { recursive: true });
  const scratch = await mkdtemp(join(outDir, '.ingest-'));
  try {
    await writeParquet(join(scratch, 'items.parquet'), itemsTable(set, raw.log.items.values, text));
    opts.onProgress?.({ phase: 'writing', done: 1, total: 3 });
    await writeParquet(join(scratch, 'interactions.parquet'), interactionsTable(set));
    opts.onProgress?.({ phase: 'writing', done: 2, total: 3 });
    await writeParquet(join(scratch, 'sequences.parquet'), sequencesTable(set, raw.log.users.values));
    opts.onProgress?.({ phase: 'writing', done: 3, total: 3 });
    await writeFile(join(scratch, 'stats.json'), `${JSON.stringify(stats, null, 2)}\n`);
    for (const name of INGEST_OUTPUTS) await rename(join(scratch, name), join(outDir, name));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return stats;
}

function statsOf(set: SequenceSet, raw: RawDataset, format: DatasetFormat, kCore: number, sourceIdsKept: boolean): IngestStats {
  const lengths = set.sequences.map((s) => s.length);
  const interactions = lengths.reduce((a, b) => a + b, 0);
  const users = lengths.length;
  const items = set.itemSource.length;
  return {
    format,
    users,
    items,
    interactions,
    avgSequenceLength: round(interactions / users, 4),
    minSequenceLength: lengths.reduce((a, b) => Math.min(a, b)),
    maxSequenceLength: lengths.reduce((a, b) => Math.max(a, b)),
    density: round(interactions / (users * items), 6),
    sourceIdsKept,
    kCore,
    kCoreRounds: set.kCoreRounds,
    source: {
      records: raw.counts.records,
      metadataRecords: raw.counts.metaRecords,
      users: raw.log.users.size,
      items: raw.log.items.size,
      itemsWithMetadata: raw.items.size,
    },
    dropped: set.dropped,
    tieBreak: raw.log.hasTimestamps
      ? 'stable sort by timestamp; equal timestamps keep source file order'
      : 'source order (no timestamps)',
  };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
