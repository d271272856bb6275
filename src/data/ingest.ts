import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatasetFormat } from '../config/schema.js';
import { BadInputError } from '../errors.js';
import { writeParquet } from '../tables/parquet.js';
import { interactionsTable, itemsTable, sequencesTable } from './datasetTables.js';
import { readAmazon2014, type RawDataset, type ReadOptions } from './formats/amazon2014.js';
import { readLcRec } from './formats/lcrec.js';
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

/** Formats that arrive already filtered keep their data as given unless asked otherwise. */
const DEFAULT_K_CORE: Record<DatasetFormat, number> = { amazon2014: 5, lcrec: 0 };

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
  }
}

/**
 * Reads a dataset in `format` from `source` (a file or directory) and writes interactions,
 * items and sequences Parquet files plus stats.json into `outDir`. Raw files are streamed.
 */
export async function ingest(
  source: string | SourceFiles,
  format: DatasetFormat,
  settings: IngestSettings,
  outDir: string,
  opts: ReadOptions = {},
): Promise<IngestStats> {
  const files = typeof source === 'string' ? await resolveSourceFiles(source, format) : source;
  const raw = await readSource(files, opts);
  const mainFile = Object.values(files.files)[0]!;
  if (raw.log.length === 0) throw new BadInputError('the dataset holds no interactions', { file: mainFile });

  const kCore = settings.kCore ?? DEFAULT_K_CORE[format];
  opts.onProgress?.({ phase: 'filtering', done: 0, total: raw.log.length });
  let set = buildSequences(raw.log, {
    dedupe: settings.dedupe,
    kCore,
    minSequenceLength: settings.minSequenceLength,
    itemHasMetadata: settings.requireMetadata ? (item) => raw.items.has(item) : undefined,
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
  opts.onProgress?.({ phase: 'writing', done: 0, total: 3 });
  await mkdir(outDir, { recursive: true });
  await writeParquet(join(outDir, 'items.parquet'), itemsTable(set, raw.log.items.values, text));
  opts.onProgress?.({ phase: 'writing', done: 1, total: 3 });
  await writeParquet(join(outDir, 'interactions.parquet'), interactionsTable(set));
  opts.onProgress?.({ phase: 'writing', done: 2, total: 3 });
  await writeParquet(join(outDir, 'sequences.parquet'), sequencesTable(set, raw.log.users.values));
  opts.onProgress?.({ phase: 'writing', done: 3, total: 3 });

  const stats = statsOf(set, raw, format, kCore, kept !== undefined);
  await writeFile(join(outDir, 'stats.json'), `${JSON.stringify(stats, null, 2)}\n`);
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
