import { BadInputError } from '../../errors.js';
import { readDelimited, parseTimestamp } from '../delimited.js';
import type { InteractionLog } from '../interactionLog.js';
import { progressOf, type RawDataset, type ReadOptions } from './amazon2014.js';
import { parsePrice, readJsonMetadata, readJsonReviews } from './jsonLines.js';

/** A 2018 reviews file is either the 5-core JSON lines or the rating-only CSV. */
export function isRatingsCsv(file: string): boolean {
  return /\.csv(\.gz)?$/i.test(file);
}

/**
 * Amazon 2018 (spec A.2, the official LC-Rec input): `<Cat>_5.json.gz` (JSON lines with
 * `reviewerID`, `asin`, `unixReviewTime`) or the rating-only `<Cat>.csv` (no header, columns
 * `item,user,rating,timestamp`), plus `meta_<Cat>.json.gz` (JSON lines: `description` is a list,
 * `brand` may start with "by\n", `category` may end in HTML debris; all handled by the shared
 * cleaning). The official script loads the CSV into a Python set, so exact duplicate rows
 * collapse there; here every row is kept in file order and repeats go through the same dedupe
 * step as every other format (the kept sequences are the same when dedupe is on).
 */
export async function readAmazon2018(files: { reviews: string; meta: string }, log: InteractionLog, opts: ReadOptions = {}): Promise<RawDataset> {
  const records = isRatingsCsv(files.reviews)
    ? await readRatingsCsv(files.reviews, log, opts)
    : await readJsonReviews(files.reviews, log, { user: 'reviewerID', item: 'asin', time: 'unixReviewTime', timeUnitsPerSecond: 1 }, opts);
  const metaRecords = await readJsonMetadata(files.meta, log, 'asin', metaRecord2018, opts);
  return { counts: { records, metaRecords } };
}

/** The 2018 metadata fields, under the names the shared cleaning reads. */
export function metaRecord2018(raw: Record<string, unknown>): Record<string, unknown> {
  return { title: raw.title, description: raw.description, brand: raw.brand, category: raw.category, price: parsePrice(raw.price) };
}

async function readRatingsCsv(file: string, log: InteractionLog, opts: ReadOptions): Promise<number> {
  let records = 0;
  for await (const { fields, lineNumber } of readDelimited(file, ',', { ...progressOf('ratings', opts), columns: 4 })) {
    const at = { file, line: lineNumber };
    const [item, user, rating, time] = fields as [string, string, string, string];
    if (item === '' || user === '') throw new BadInputError(`empty ${item === '' ? 'item' : 'user'} id`, at);
    if (records === 0 && !Number.isFinite(Number(rating)) && /[a-z]/i.test(time)) {
      throw new BadInputError('the 2018 rating CSV has no header line (columns item,user,rating,timestamp); this looks like one', at);
    }
    log.add(user, item, parseTimestamp(time, at, 'timestamp'));
    records++;
  }
  return records;
}
