import { BadInputError } from '../../errors.js';
import { readDelimited, parseTimestamp } from '../delimited.js';
import type { InteractionLog } from '../interactionLog.js';
import { progressOf, type RawDataset, type ReadOptions } from './amazon2014.js';
import { parsePrice, readJsonMetadata, readJsonReviews } from './jsonLines.js';

const MS_PER_SECOND = 1000;

/** The 5-core "rating only" CSVs of the 2023 release start with this header. */
export const CSV_2023_REQUIRED = ['user_id', 'parent_asin', 'timestamp'] as const;

/**
 * Amazon 2023 (spec A.2): reviews as JSON lines (`user_id`, `parent_asin`, `timestamp` in
 * milliseconds) or the 5-core CSV (`user_id,parent_asin,rating,timestamp`), plus
 * `meta_<Cat>.jsonl` keyed by `parent_asin`. Item identity is `parent_asin` (variants of one
 * product share it). Times are kept to the millisecond for ordering (fractional seconds in
 * the log) and written as whole Unix seconds.
 */
export async function readAmazon2023(files: { reviews: string; meta: string }, log: InteractionLog, opts: ReadOptions = {}): Promise<RawDataset> {
  const records = /\.csv(\.gz)?$/i.test(files.reviews)
    ? await readCsv2023(files.reviews, log, opts)
    : await readJsonReviews(files.reviews, log, { user: 'user_id', item: 'parent_asin', time: 'timestamp', timeUnitsPerSecond: MS_PER_SECOND }, opts);
  const metaRecords = await readJsonMetadata(files.meta, log, 'parent_asin', metaRecord2023, opts);
  return { counts: { records, metaRecords } };
}

/**
 * 2023 metadata under the shared names: `store` is the brand, `categories` a flat path (often
 * empty, then `main_category` stands in), `description` a list, `price` a number or null.
 */
export function metaRecord2023(raw: Record<string, unknown>): Record<string, unknown> {
  const categories = Array.isArray(raw.categories) && raw.categories.length > 0 ? raw.categories : typeof raw.main_category === 'string' && raw.main_category !== '' ? [raw.main_category] : [];
  const details = raw.details !== null && typeof raw.details === 'object' ? (raw.details as Record<string, unknown>) : {};
  return { title: raw.title, description: raw.description, brand: raw.store ?? details.Brand, categories, price: parsePrice(raw.price) };
}

async function readCsv2023(file: string, log: InteractionLog, opts: ReadOptions): Promise<number> {
  let header: string[] | undefined;
  let col = { user: 0, item: 0, time: 0 };
  let records = 0;
  for await (const { fields, lineNumber } of readDelimited(file, ',', progressOf('ratings', opts))) {
    const at = { file, line: lineNumber };
    if (!header) {
      header = fields.map((f) => f.trim());
      const missing = CSV_2023_REQUIRED.filter((name) => !header!.includes(name));
      if (missing.length > 0) {
        throw new BadInputError(`the header must name ${CSV_2023_REQUIRED.join(', ')}; missing ${missing.join(', ')} (found ${JSON.stringify(header.join(','))})`, at);
      }
      col = { user: header.indexOf('user_id'), item: header.indexOf('parent_asin'), time: header.indexOf('timestamp') };
      continue;
    }
    if (fields.length !== header.length) throw new BadInputError(`expected ${header.length} columns, found ${fields.length}`, at);
    const user = fields[col.user]!;
    const item = fields[col.item]!;
    if (user === '') throw new BadInputError('empty', { ...at, field: 'user_id' });
    if (item === '') throw new BadInputError('empty', { ...at, field: 'parent_asin' });
    log.add(user, item, parseTimestamp(fields[col.time]!, at, 'timestamp') / MS_PER_SECOND);
    records++;
  }
  return records;
}
