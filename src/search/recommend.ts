/**
 * `lcrec recommend` as a library (issue 8 item 5): item identifiers as users know them (the
 * ASINs of items.parquet, or the dataset's own source ids) -> item ids -> the seqrec prompt ->
 * trie-constrained beam search -> the top K items with titles and scores. The score is the one of
 * predictions.parquet: log P(item | prompt) over the valid semantic IDs (beamSearch.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { ITEMS_SCHEMA } from '../data/datasetTables.js';
import { BadInputError, type InputLocation } from '../errors.js';
import type { GenerativeRecommender } from '../eval/generative.js';
import { readParquet, writeParquet } from '../tables/parquet.js';
import { constrainedBeamSearch, type SearchTiming } from './beamSearch.js';

/** Item ids, identifiers and titles of an ingested dataset. */
export interface ItemCatalog {
  /** Per item id: its ASIN (null when the source has none), its source id, its title. */
  asin: (string | null)[];
  sourceId: string[];
  title: string[];
  /** ASIN or source id -> item id; an ASIN wins over another item's equal source id. */
  byName: Map<string, number>;
}

export async function readItemCatalog(ingestDir: string): Promise<ItemCatalog> {
  const file = join(ingestDir, 'items.parquet');
  const table = await readParquet(file, { item_id: ITEMS_SCHEMA.item_id, source_id: ITEMS_SCHEMA.source_id, asin: ITEMS_SCHEMA.asin, title: ITEMS_SCHEMA.title });
  const n = table.numRows;
  const ids = table.getChild('item_id')!;
  const asin: (string | null)[] = new Array(n);
  const sourceId: string[] = new Array(n);
  const title: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    if (ids.get(i) !== i) throw new BadInputError(`row ${i} has item_id ${ids.get(i)}; expected ${i}`, { file, field: 'item_id' });
    asin[i] = table.getChild('asin')!.get(i) ?? null;
    sourceId[i] = table.getChild('source_id')!.get(i) ?? '';
    title[i] = table.getChild('title')!.get(i) ?? '';
  }
  const byName = new Map<string, number>();
  sourceId.forEach((s, i) => s !== '' && byName.set(s, i));
  asin.forEach((a, i) => a !== null && a !== '' && byName.set(a, i));
  return { asin, sourceId, title, byName };
}

/**
 * Item ids of a history given as identifiers, oldest first. Throws one BadInputError naming every
 * unknown identifier, or saying the history is empty.
 */
export function resolveHistory(catalog: ItemCatalog, names: readonly string[], where: InputLocation = { field: '--history' }): Int32Array {
  const cleaned = names.map((n) => n.trim()).filter((n) => n !== '');
  if (cleaned.length === 0) throw new BadInputError('the history is empty: give at least one item (ASIN)', where);
  const unknown = cleaned.filter((n) => !catalog.byName.has(n));
  if (unknown.length > 0) {
    const shown = unknown.slice(0, 10).join(', ') + (unknown.length > 10 ? `, ... (${unknown.length} in all)` : '');
    throw new BadInputError(`unknown item${unknown.length > 1 ? 's' : ''} ${shown}: not in this run's dataset`, where);
  }
  return Int32Array.from(cleaned, (n) => catalog.byName.get(n) as number);
}

export interface Recommendation {
  /** 1-based. */
  rank: number;
  item: number;
  asin: string | null;
  sourceId: string;
  title: string;
  /** log P(item | prompt) over valid semantic IDs. */
  score: number;
}

export interface RecommendOptions {
  top: number;
  beamWidth: number;
  template: number;
  maxHistory: number;
  batchPrompts?: number;
  timing?: SearchTiming;
}

/** Top-K items for each history (item ids, oldest first), best first. */
export async function recommend(
  model: GenerativeRecommender,
  catalog: ItemCatalog,
  histories: readonly Int32Array[],
  opts: RecommendOptions,
): Promise<Recommendation[][]> {
  if (!Number.isInteger(opts.top) || opts.top < 1) throw new BadInputError(`--top must be a positive integer, got ${opts.top}`, { field: '--top' });
  if (opts.top > opts.beamWidth) throw new BadInputError(`--top ${opts.top} is larger than the beam width ${opts.beamWidth}: the search finds at most beam-width items`, { field: '--top' });
  histories.forEach((h, i) => {
    if (h.length === 0) throw new BadInputError(`history ${i + 1} is empty`, { field: 'history' });
  });
  const batch = opts.batchPrompts ?? 32;
  const out: Recommendation[][] = [];
  for (let start = 0; start < histories.length; start += batch) {
    const prompts = histories.slice(start, start + batch).map((h) => model.renderPrompt(h.subarray(Math.max(0, h.length - opts.maxHistory)), opts.template));
    const ranked = await constrainedBeamSearch(model.sessions, prompts, model.trie, opts.beamWidth, opts.timing);
    for (const { items, scores } of ranked) {
      out.push(
        Array.from(items.subarray(0, opts.top), (item, r) => ({
          rank: r + 1,
          item,
          asin: catalog.asin[item] ?? null,
          sourceId: catalog.sourceId[item] ?? '',
          title: catalog.title[item] ?? '',
          score: scores[r] as number,
        })),
      );
    }
  }
  return out;
}

/** One user of a `--users-file`: a label and a history of identifiers. */
export interface UserHistory {
  user: string;
  history: string[];
  line: number;
}

/**
 * Parses a `--users-file`: UTF-8 text, one user per line, `<user><TAB><id>,<id>,...` or just
 * `<id>,<id>,...` (the user is then the line number); blank lines and lines starting with `#`
 * are skipped. Errors name the file and line.
 */
export function parseUsersFile(text: string, file: string): UserHistory[] {
  const users: UserHistory[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const content = raw.trim();
    if (content === '' || content.startsWith('#')) return;
    const tab = raw.indexOf('\t');
    const user = tab >= 0 ? raw.slice(0, tab).trim() : String(line);
    const history = (tab >= 0 ? raw.slice(tab + 1) : raw).split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (user === '') throw new BadInputError('empty user label before the tab', { file, line });
    if (history.length === 0) throw new BadInputError(`user ${user}: the history is empty`, { file, line });
    const before = seen.get(user);
    if (before !== undefined) throw new BadInputError(`user ${user} appears again (first on line ${before})`, { file, line });
    seen.set(user, line);
    users.push({ user, history, line });
  });
  if (users.length === 0) throw new BadInputError('no users in the file', { file });
  return users;
}

export async function readUsersFile(file: string): Promise<UserHistory[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new BadInputError('cannot read the users file', { file });
  }
  return parseUsersFile(text, file);
}

/** Batch output: user, rank (1-based), item_id, asin, source_id, title, score; written atomically. */
export async function writeRecommendations(path: string, users: readonly string[], lists: readonly Recommendation[][]): Promise<void> {
  const rows = lists.flatMap((list, u) => list.map((r) => ({ user: users[u] as string, ...r })));
  const utf8 = (values: (string | null)[]) => arrow.vectorFromArray(values, new arrow.Utf8());
  await writeParquet(
    path,
    new arrow.Table({
      user: utf8(rows.map((r) => r.user)),
      rank: arrow.makeVector(Int32Array.from(rows, (r) => r.rank)),
      item_id: arrow.makeVector(Int32Array.from(rows, (r) => r.item)),
      asin: utf8(rows.map((r) => r.asin)),
      source_id: utf8(rows.map((r) => r.sourceId)),
      title: utf8(rows.map((r) => r.title)),
      score: arrow.makeVector(Float64Array.from(rows, (r) => r.score)),
    }),
  );
}
