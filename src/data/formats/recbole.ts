import { BadInputError } from '../../errors.js';
import { readDelimited, parseTimestamp } from '../delimited.js';
import type { InteractionLog } from '../interactionLog.js';
import { itemTextFromRecord } from '../itemText.js';
import { parsePythonLiteral } from '../pyLiteral.js';
import { progressOf, type RawDataset, type ReadOptions } from './amazon2014.js';
import { parsePrice } from './jsonLines.js';

/**
 * RecBole atomic files: tab-separated, the first line a header of `name:type` fields
 * (`user_id:token item_id:token rating:float timestamp:float`). Column order is free; fields
 * are found by name. Quoted fields use CSV rules (RecBole's own Amazon `.item` files do).
 */
interface AtomicHeader {
  names: string[];
  index: (name: string) => number;
}

function parseHeader(fields: string[], at: { file: string; line: number }, required: readonly string[]): AtomicHeader {
  const names = fields.map((f) => f.trim().replace(/:[a-z_]+$/i, ''));
  const missing = required.filter((r) => !names.includes(r));
  if (missing.length > 0) {
    throw new BadInputError(
      `the header must name the fields ${required.map((r) => `${r}:<type>`).join(', ')}; missing ${missing.join(', ')} (found ${fields.join(' ')})`,
      at,
    );
  }
  return { names, index: (name) => names.indexOf(name) };
}

async function* atomicRows(file: string, required: readonly string[], phase: string, opts: ReadOptions) {
  let header: AtomicHeader | undefined;
  for await (const { fields, lineNumber } of readDelimited(file, '\t', progressOf(phase, opts))) {
    const at = { file, line: lineNumber };
    if (!header) {
      header = parseHeader(fields, at, required);
      continue;
    }
    if (fields.length !== header.names.length) throw new BadInputError(`expected ${header.names.length} tab-separated columns, found ${fields.length}`, at);
    yield { fields, header, at };
  }
  if (!header) throw new BadInputError('no header line', { file });
}

function requireToken(value: string, field: string, at: { file: string; line: number }): string {
  if (value === '') throw new BadInputError('empty', { ...at, field });
  return value;
}

/**
 * `<D>.inter` (+ optional `<D>.item`). Without a timestamp column the file order is the order.
 * Ids are tokens (ASINs, reviewer ids), never taken as indices.
 */
export async function readRecboleAtomic(files: { inter: string; item?: string }, log: InteractionLog, opts: ReadOptions = {}): Promise<RawDataset> {
  let records = 0;
  let timeCol: number | undefined;
  for await (const { fields, header, at } of atomicRows(files.inter, ['user_id', 'item_id'], 'interactions', opts)) {
    if (timeCol === undefined) {
      timeCol = header.index('timestamp');
      log.hasTimestamps = timeCol >= 0;
    }
    const user = requireToken(fields[header.index('user_id')]!, 'user_id', at);
    const item = requireToken(fields[header.index('item_id')]!, 'item_id', at);
    log.add(user, item, timeCol >= 0 ? parseTimestamp(fields[timeCol]!, at, 'timestamp') : records);
    records++;
  }
  const metaRecords = files.item ? await readAtomicItems(files.item, log, opts) : 0;
  return { counts: { records, metaRecords }, hasMetadata: files.item !== undefined };
}

/** `<D>.item`: `item_id` plus any of title, description, brand, categories, price. Returns the records read. */
export async function readAtomicItems(file: string, log: InteractionLog, opts: ReadOptions): Promise<number> {
  let metaRecords = 0;
  for await (const { fields, header, at } of atomicRows(file, ['item_id'], 'metadata', opts)) {
    metaRecords++;
    const key = requireToken(fields[header.index('item_id')]!, 'item_id', at);
    const get = (name: string) => {
      const i = header.index(name);
      return i >= 0 ? fields[i] : undefined;
    };
    const record = () => ({
      title: get('title') ?? get('text'),
      description: get('description'),
      brand: get('brand'),
      categories: parseCategories(get('categories')),
      price: parsePrice(get('price')),
    });
    await log.offerItemText(key, () => itemTextFromRecord(record(), /^[A-Z0-9]{10}$/.test(key) ? key : null));
  }
  return metaRecords;
}

/** RecBole's Amazon `categories:token_seq` holds a Python list body: `'Beauty', 'Makeup'`. */
function parseCategories(raw: string | undefined): unknown {
  if (raw === undefined || raw === '') return undefined;
  if (/^['"]/.test(raw)) {
    try {
      const list = parsePythonLiteral(`[${raw}]`);
      if (Array.isArray(list)) return list;
    } catch {
      // not a literal list: a plain string, kept as given
    }
  }
  return raw;
}

interface SplitRow {
  history: string[];
  target: string;
  at: { file: string; line: number };
}

/**
 * RecBole / UniSRec sequential splits: `<D>.train.inter`, `<D>.valid.inter`, `<D>.test.inter`
 * with `user_id:token item_id_list:token_seq item_id:token`, one row per prediction (history,
 * target). Histories may be capped (LC-Rec writes the last 50) and rows may come in any order
 * (LC-Rec writes each user's train rows last target first), so each user's full sequence is
 * rebuilt by chaining: start from the row with the shortest history, then repeatedly take the
 * unused row whose history is the tail of what is built so far. Every row must be used exactly
 * once, or the rows do not describe one sequence and the error names a row.
 */
export async function readRecboleSplits(files: { train: string; valid: string; test: string; item?: string }, log: InteractionLog, opts: ReadOptions = {}): Promise<RawDataset> {
  const byUser = new Map<string, SplitRow[]>();
  let records = 0;
  let cap = 0;
  for (const file of [files.train, files.valid, files.test]) {
    for await (const { fields, header, at } of atomicRows(file, ['user_id', 'item_id_list', 'item_id'], 'splits', opts)) {
      const user = requireToken(fields[header.index('user_id')]!, 'user_id', at);
      const list = fields[header.index('item_id_list')]!.trim();
      const history = list === '' ? [] : list.split(/ +/);
      const target = requireToken(fields[header.index('item_id')]!, 'item_id', at);
      let rows = byUser.get(user);
      if (!rows) byUser.set(user, (rows = []));
      rows.push({ history, target, at });
      cap = Math.max(cap, history.length);
      records++;
    }
  }

  log.hasTimestamps = false;
  for (const [user, rows] of byUser) {
    const sequence = chainRows(user, rows, cap);
    sequence.forEach((item, position) => log.add(user, item, position));
  }
  const metaRecords = files.item ? await readAtomicItems(files.item, log, opts) : 0;
  return { counts: { records, metaRecords }, idsAreIndices: true, hasMetadata: files.item !== undefined };
}

/** One user's full sequence from its split rows (see readRecboleSplits). */
export function chainRows(user: string, rows: SplitRow[], cap: number): string[] {
  const start = rows.reduce((best, row) => (row.history.length < best.history.length ? row : best));
  const unused = new Map<string, SplitRow[]>();
  for (const row of rows) {
    if (row === start) continue;
    const key = row.history.join(' ');
    const same = unused.get(key);
    if (same) same.push(row);
    else unused.set(key, [row]);
  }
  const sequence = [...start.history, start.target];
  for (let used = 1; used < rows.length; used++) {
    const key = sequence.slice(-Math.min(sequence.length, cap)).join(' ');
    const next = unused.get(key)?.shift();
    if (!next) {
      const stray = [...unused.values()].flat()[0]!;
      throw new BadInputError(`the split rows of user ${JSON.stringify(user)} do not form one sequence: this row's history does not continue ${JSON.stringify(sequence.slice(-5).join(' '))}`, stray.at);
    }
    sequence.push(next.target);
  }
  return sequence;
}
