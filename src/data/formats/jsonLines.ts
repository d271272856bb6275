/**
 * The JSON-lines halves shared by the raw Amazon readers (2018, 2023): a reviews file whose lines
 * name a user, an item and a time, and a metadata file keyed by the item's id. Both stream;
 * metadata is kept only for items that some review names (the metadata dumps are much larger).
 */
import { BadInputError } from '../../errors.js';
import type { InteractionLog } from '../interactionLog.js';
import { itemTextFromRecord } from '../itemText.js';
import { readLines } from '../lineReader.js';
import { progressOf, requireString, type ReadOptions } from './amazon2014.js';

export interface ReviewFields {
  user: string;
  item: string;
  time: string;
  /** Divides the time field to give Unix seconds (1000 for the 2023 release's milliseconds). */
  timeUnitsPerSecond: number;
}

export function parseJsonObject(line: string, at: { file: string; line: number }, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new BadInputError(`not a JSON ${what} line (${(err as Error).message})`, at);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BadInputError(`a ${what} line must be a JSON object`, at);
  return value as Record<string, unknown>;
}

/** A time field: a finite number (or a numeric string), in the source's units. */
export function requireNumber(record: Record<string, unknown>, field: string, at: { file: string; line: number }): number {
  const value = record[field];
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  throw new BadInputError(value === undefined ? 'missing' : `timestamp is not a number: ${JSON.stringify(value)}`, { ...at, field });
}

/** Appends every review of `file` to `log`; returns how many were read. */
export async function readJsonReviews(file: string, log: InteractionLog, fields: ReviewFields, opts: ReadOptions): Promise<number> {
  let records = 0;
  for await (const { line, lineNumber } of readLines(file, progressOf('reviews', opts))) {
    if (line.trim() === '') continue;
    const at = { file, line: lineNumber };
    const review = parseJsonObject(line, at, 'review');
    const time = requireNumber(review, fields.time, at) / fields.timeUnitsPerSecond;
    log.add(requireString(review, fields.user, at), requireString(review, fields.item, at), time);
    records++;
  }
  return records;
}

/**
 * Reads a JSON-lines metadata file keyed by `keyField` into `log`; `toRecord` maps a release's
 * field names onto the ones `itemTextFromRecord` understands. The first record of an item wins.
 * Returns how many records were read.
 */
export async function readJsonMetadata(
  file: string,
  log: InteractionLog,
  keyField: string,
  toRecord: (raw: Record<string, unknown>) => Record<string, unknown>,
  opts: ReadOptions,
): Promise<number> {
  let metaRecords = 0;
  for await (const { line, lineNumber } of readLines(file, progressOf('metadata', opts))) {
    if (line.trim() === '') continue;
    const at = { file, line: lineNumber };
    const raw = parseJsonObject(line, at, 'metadata');
    metaRecords++;
    const key = requireString(raw, keyField, at);
    await log.offerItemText(key, () => itemTextFromRecord(toRecord(raw), key));
  }
  return metaRecords;
}

/** A price as a number: 2018 writes "$12.99" (or "", or a range), 2023 a number or null. */
export function parsePrice(raw: unknown): number | null {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : null;
  if (typeof raw !== 'string') return null;
  const match = /^\s*\$?\s*(\d[\d,]*(?:\.\d+)?)\s*$/.exec(raw);
  return match ? Number(match[1]!.replaceAll(',', '')) : null;
}
