import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatasetFormat } from '../config/schema.js';
import { BadInputError } from '../errors.js';
import { writeDatasetTables } from './datasetWriter.js';
import { readAmazon2014, type RawDataset, type ReadOptions } from './formats/amazon2014.js';
import { readAmazon2018 } from './formats/amazon2018.js';
import { readAmazon2023 } from './formats/amazon2023.js';
import { readLcRec } from './formats/lcrec.js';
import { readRecboleAtomic, readRecboleSplits } from './formats/recbole.js';
import { detectFormat } from './detect.js';
import { InteractionLog } from './interactionLog.js';
import { ScratchDb } from './scratchDb.js';
import { buildSequences, type DropCounts, type SequenceSummary } from './sequences.js';
import { resolveSourceFiles, type SourceFiles } from './sources.js';

/** Bumped whenever a change alters what ingestion writes, so cached artifacts are not reused. */
// 2: control characters dropped from item text, invalid UTF-8 refused, an LC-Rec user listed twice refused.
export const INGEST_CODE_VERSION = 'ingest/2';

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
  dropped: DropCounts;
  tieBreak: string;
}

export async function readSource(sources: SourceFiles, log: InteractionLog, opts: ReadOptions): Promise<RawDataset> {
  const f = sources.files;
  switch (sources.format) {
    case 'amazon2014':
      return readAmazon2014({ reviews: f.reviews!, meta: f.meta! }, log, opts);
    case 'lcrec':
      return readLcRec({ inter: f.inter!, item: f.item! }, log, opts);
    case 'amazon2018':
      return readAmazon2018({ reviews: f.reviews!, meta: f.meta! }, log, opts);
    case 'amazon2023':
      return readAmazon2023({ reviews: f.reviews!, meta: f.meta!, valid: f.valid, test: f.test }, log, opts);
    case 'recbole':
      return readRecboleAtomic({ inter: f.inter!, item: f.item }, log, opts);
    case 'recbole-splits':
      return readRecboleSplits({ train: f.train!, valid: f.valid!, test: f.test!, item: f.item }, log, opts);
  }
}

/**
 * Reads a dataset in `format` (undefined: detected from the files) from `source` (a file or
 * directory) and writes interactions, items and sequences Parquet files plus stats.json into
 * `outDir`. Memory stays bounded however large the source: files are streamed into a scratch
 * DuckDB database, which filters and orders out of core, and the tables are written from it batch
 * by batch. Everything happens in a scratch directory inside `outDir`; the four outputs are moved
 * into place only when all are complete: bad input leaves nothing.
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
  const mainFile = Object.values(files.files)[0]!;
  await mkdir(outDir, { recursive: true });
  const scratch = await mkdtemp(join(outDir, '.ingest-'));
  try {
    const db = await ScratchDb.open(scratch);
    let stats: IngestStats;
    try {
      const log = await InteractionLog.create(db);
      const raw = await readSource(files, log, opts);
      await log.finish();
      if (log.length === 0) throw new BadInputError('the dataset holds no interactions', { file: mainFile });

      const kCore = settings.kCore ?? DEFAULT_K_CORE[format];
      opts.onProgress?.({ phase: 'filtering', done: 0, total: log.length });
      const summary = await buildSequences(db, log, {
        dedupe: settings.dedupe,
        kCore,
        minSequenceLength: settings.minSequenceLength,
        // A source without any item file (RecBole without `.item`) has nothing to require.
        requireMetadata: settings.requireMetadata && raw.hasMetadata !== false,
        keepGivenIds: raw.idsAreIndices === true,
      });
      if (summary.users === 0) {
        throw new BadInputError(
          `no user survives filtering (k-core ${kCore}, minimum sequence length ${settings.minSequenceLength}); ` +
            `dropped: ${JSON.stringify(summary.dropped)}`,
          { file: mainFile },
        );
      }
      opts.signal?.throwIfAborted();
      stats = statsOf(summary, raw, format, kCore, log.hasTimestamps);
      await writeDatasetTables(db, scratch, log.hasTimestamps, opts.onProgress);
    } finally {
      db.close();
    }
    await writeFile(join(scratch, 'stats.json'), `${JSON.stringify(stats, null, 2)}\n`);
    for (const name of INGEST_OUTPUTS) await rename(join(scratch, name), join(outDir, name));
    return stats;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function statsOf(summary: SequenceSummary, raw: RawDataset, format: DatasetFormat, kCore: number, hasTimestamps: boolean): IngestStats {
  const { users, items, interactions } = summary;
  return {
    format,
    users,
    items,
    interactions,
    avgSequenceLength: round(interactions / users, 4),
    minSequenceLength: summary.minSequenceLength,
    maxSequenceLength: summary.maxSequenceLength,
    density: round(interactions / (users * items), 6),
    sourceIdsKept: summary.sourceIdsKept,
    kCore,
    kCoreRounds: summary.kCoreRounds,
    source: {
      records: raw.counts.records,
      metadataRecords: raw.counts.metaRecords,
      users: summary.source.users,
      items: summary.source.items,
      itemsWithMetadata: summary.source.itemsWithMetadata,
    },
    dropped: summary.dropped,
    tieBreak: hasTimestamps ? 'stable sort by timestamp; equal timestamps keep source file order' : 'source order (no timestamps)',
  };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
