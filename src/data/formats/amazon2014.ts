import { BadInputError } from '../../errors.js';
import type { InteractionLog } from '../interactionLog.js';
import { itemTextFromRecord, type ProgressSink } from '../itemText.js';
import { readLines } from '../lineReader.js';
import { parsePythonLiteral, PyLiteralError } from '../pyLiteral.js';

/** What a reader reports; the interactions and item text themselves went into its InteractionLog. */
export interface RawDataset {
  counts: { records: number; metaRecords: number };
  /** The source's user and item ids are 0-based indices (LC-Rec, RecBole splits), kept when they can be. */
  idsAreIndices?: boolean;
  /** False when the source has no item file at all: then no interaction is dropped for lacking metadata. */
  hasMetadata?: boolean;
}

export interface ReadOptions {
  signal?: AbortSignal;
  onProgress?: ProgressSink;
}

/**
 * Amazon 2014: `reviews_<Cat>_5.json.gz` (JSON lines) and `meta_<Cat>.json.gz`, whose lines are
 * Python dict literals. Both are streamed line by line; metadata is kept only for reviewed items.
 */
export async function readAmazon2014(files: { reviews: string; meta: string }, log: InteractionLog, opts: ReadOptions = {}): Promise<RawDataset> {
  let records = 0;
  for await (const { line, lineNumber } of readLines(files.reviews, progressOf('reviews', opts))) {
    if (line.trim() === '') continue;
    const at = { file: files.reviews, line: lineNumber };
    let review: Record<string, unknown>;
    try {
      review = JSON.parse(line) as Record<string, unknown>;
    } catch (err) {
      throw new BadInputError(`not a JSON review line (${(err as Error).message})`, at);
    }
    if (review === null || typeof review !== 'object' || Array.isArray(review)) {
      throw new BadInputError('a review line must be a JSON object', at);
    }
    log.add(requireString(review, 'reviewerID', at), requireString(review, 'asin', at), requireTime(review, at));
    records++;
  }

  let metaRecords = 0;
  for await (const { line, lineNumber } of readLines(files.meta, progressOf('metadata', opts))) {
    if (line.trim() === '') continue;
    const at = { file: files.meta, line: lineNumber };
    const record = parseMetaLine(line, at);
    metaRecords++;
    const asin = requireString(record, 'asin', at);
    await log.offerItemText(asin, () => itemTextFromRecord(record, asin));
  }
  return { counts: { records, metaRecords } };
}

/** genrec tries JSON first and falls back to Python literals; we never evaluate code. */
function parseMetaLine(line: string, at: { file: string; line: number }): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    try {
      value = parsePythonLiteral(line);
    } catch (err) {
      if (err instanceof PyLiteralError) throw new BadInputError(`metadata is not a Python literal: ${err.message}`, at);
      throw err;
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new BadInputError('a metadata line must be a dict', at);
  }
  return value as Record<string, unknown>;
}

export function requireString(record: Record<string, unknown>, field: string, at: { file: string; line?: number }): string {
  const value = record[field];
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return String(value);
  throw new BadInputError(value === undefined ? 'missing' : `expected a non-empty string, found ${JSON.stringify(value)}`, {
    ...at,
    field,
  });
}

function requireTime(record: Record<string, unknown>, at: { file: string; line: number }): number {
  const value = record.unixReviewTime;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw new BadInputError(value === undefined ? 'missing' : `expected a number, found ${JSON.stringify(value)}`, {
    ...at,
    field: 'unixReviewTime',
  });
}

export function progressOf(phase: string, opts: ReadOptions) {
  return {
    signal: opts.signal,
    onBytes: opts.onProgress && ((done: number, total: number) => opts.onProgress!({ phase, done, total })),
  };
}
