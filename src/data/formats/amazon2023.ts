import { BadInputError } from '../../errors.js';
import { readDelimited, parseTimestamp } from '../delimited.js';
import type { InteractionLog } from '../interactionLog.js';
import { progressOf, type RawDataset, type ReadOptions } from './amazon2014.js';
import { parsePrice, readJsonMetadata, readJsonReviews } from './jsonLines.js';

const MS_PER_SECOND = 1000;

/** The 5-core "rating only" CSVs of the 2023 release and its benchmark splits name these columns in their header. */
export const CSV_2023_REQUIRED = ['user_id', 'parent_asin', 'timestamp'] as const;

/**
 * Amazon 2023 (spec A.2): reviews as JSON lines (`user_id`, `parent_asin`, `timestamp` in
 * milliseconds) or the 5-core CSV (`user_id,parent_asin,rating,timestamp`), plus
 * `meta_<Cat>.jsonl` keyed by `parent_asin`. Item identity is `parent_asin` (variants of one
 * product share it). Times are kept to the millisecond for ordering (fractional seconds in
 * the log) and written as whole Unix seconds.
 *
 * The benchmark splits (`5core/last_out[_w_his]`, `5core/timestamp[_w_his]`) come as
 * `<Cat>.train.csv`, `<Cat>.valid.csv` and `<Cat>.test.csv` (`files.reviews` is the train file):
 * the rating-only rows divided by leave-last-out or by two absolute times, every interaction in
 * exactly one file, each user's rows in time order (upstream sorts stably by time after
 * dropping repeats). Read train, valid, test in turn, the rows give each user's full sequence
 * in time order with ties in file order, the same as the rating-only file (user ids follow first
 * appearance in that reading order, so a user without training rows may be numbered later than
 * from the rating-only file). The `_w_his` files add
 * `history`: the parent_asins before this one, space-separated; each row's history is checked
 * against the rebuilt sequence (its length is the row's position, its last item the previous one).
 */
export async function readAmazon2023(files: { reviews: string; meta: string; valid?: string; test?: string }, log: InteractionLog, opts: ReadOptions = {}): Promise<RawDataset> {
  let records = 0;
  if (files.valid !== undefined && files.test !== undefined) {
    for (const split of [files.reviews, files.valid, files.test]) records += await readCsv2023(split, log, opts);
  } else {
    records = /\.csv(\.gz)?$/i.test(files.reviews)
      ? await readCsv2023(files.reviews, log, opts)
      : await readJsonReviews(files.reviews, log, { user: 'user_id', item: 'parent_asin', time: 'timestamp', timeUnitsPerSecond: MS_PER_SECOND }, opts);
  }
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
  let col = { user: 0, item: 0, time: 0, history: -1 };
  let records = 0;
  for await (const { fields, lineNumber } of readDelimited(file, ',', progressOf('ratings', opts))) {
    const at = { file, line: lineNumber };
    if (!header) {
      header = fields.map((f) => f.trim());
      const missing = CSV_2023_REQUIRED.filter((name) => !header!.includes(name));
      if (missing.length > 0) {
        throw new BadInputError(`the header must name ${CSV_2023_REQUIRED.join(', ')}; missing ${missing.join(', ')} (found ${JSON.stringify(header.join(','))})`, at);
      }
      col = { user: header.indexOf('user_id'), item: header.indexOf('parent_asin'), time: header.indexOf('timestamp'), history: header.indexOf('history') };
      if (col.history >= 0) await log.prepareHistory();
      continue;
    }
    if (fields.length !== header.length) throw new BadInputError(`expected ${header.length} columns, found ${fields.length}`, at);
    const user = fields[col.user]!;
    const item = fields[col.item]!;
    if (user === '') throw new BadInputError('empty', { ...at, field: 'user_id' });
    if (item === '') throw new BadInputError('empty', { ...at, field: 'parent_asin' });
    log.add(user, item, parseTimestamp(fields[col.time]!, at, 'timestamp') / MS_PER_SECOND);
    if (col.history >= 0) {
      const history = fields[col.history]!.trim();
      const earlier = history === '' ? [] : history.split(/ +/);
      log.expectHistory(earlier.length, earlier.at(-1) ?? null, at);
    }
    records++;
  }
  return records;
}
