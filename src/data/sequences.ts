/**
 * Spec A.3 in SQL over the scratch tables of an InteractionLog (src/data/interactionLog.ts): group
 * by user, order by time (equal times keep reading order: the documented tie-break), drop repeats
 * keeping the earliest, drop items without metadata, iterative k-core, drop short sequences, then
 * give users and items new contiguous ids by first appearance (users in reading order, items
 * scanning the kept sequences in user order).
 *
 * DuckDB runs every step out of core, so memory stays within the scratch database's limit for any
 * number of reviews, users and items. Tables left for the writers (src/data/datasetTables.ts):
 *
 *   users      (user_key, u)             u: the user's first row (so u orders users by first appearance)
 *   item_index (item_key, i, has_text)   i: the item's first row
 *   kept       (u, i, ts, read_order)    the kept interactions; a user's sequence is ordered by orderKey
 *   user_ids   (u, user_id)              new ids of the kept users
 *   item_ids   (i, item_id)              new ids of the kept items
 *
 * Only aggregates, joins, deletes and windows over many small partitions (per user and item) or
 * over the users or items are used: the operators DuckDB runs out of core.
 */
import type { InteractionLog } from './interactionLog.js';
import type { ScratchDb } from './scratchDb.js';

export interface SequenceOptions {
  /** Drop repeated (user, item) interactions, keeping the earliest. */
  dedupe: boolean;
  /** Iterative k-core threshold for users and items; 0 = off. */
  kCore: number;
  /** Users with fewer items are dropped at the end (leave-one-out needs at least 3). */
  minSequenceLength: number;
  /** Drop interactions with items that have no metadata record. */
  requireMetadata: boolean;
  /**
   * The source's ids are 0-based indices (LC-Rec's `.inter.json`, RecBole splits): keep them when
   * the surviving ids are exactly 0..N-1, so that artifacts line up with other tools' files.
   */
  keepGivenIds: boolean;
}

export interface DropCounts {
  duplicates: number;
  missingMetadata: number;
  kCore: number;
  shortSequences: number;
}

/**
 * Users' sequences held in memory, with the log indices they came from: how tests and small tools
 * describe a dataset to the whole-table writers of src/data/datasetTables.ts.
 */
export interface SequenceSet {
  /** Source user index of each user id. */
  userSource: Int32Array;
  /** Source item index of each item id. */
  itemSource: Int32Array;
  /** Per user id: item ids in chronological order. */
  sequences: Int32Array[];
  /** Per user id: timestamps aligned with `sequences`, or undefined when the source has none. */
  timestamps: Float64Array[] | undefined;
  dropped: DropCounts;
  kCoreRounds: number;
}

export interface SequenceSummary {
  users: number;
  items: number;
  interactions: number;
  minSequenceLength: number;
  maxSequenceLength: number;
  dropped: DropCounts;
  kCoreRounds: number;
  /** Ids are the source's own indices (see SequenceOptions.keepGivenIds). */
  sourceIdsKept: boolean;
  source: { users: number; items: number; itemsWithMetadata: number };
}

/** A key's id when the source's ids are indices: the number it spells if it is all digits. */
const givenId = (column: string) => `CASE WHEN regexp_full_match(${column}, '[0-9]+') THEN TRY_CAST(${column} AS BIGINT) END`;

export async function buildSequences(db: ScratchDb, log: InteractionLog, opts: SequenceOptions): Promise<SequenceSummary> {
  const dropped: DropCounts = { duplicates: 0, missingMetadata: 0, kCore: 0, shortSequences: 0 };

  // Users and items are known by their first row from here on (integers, in order of first appearance).
  await db.run(`
    CREATE TABLE users AS SELECT user_key, min(read_order) AS u FROM reviews GROUP BY user_key;
    CREATE TABLE item_index AS SELECT item_key, first_row AS i, item_key IN (SELECT item_key FROM item_text) AS has_text FROM items;
  `);
  // A repeated (user, item) keeps its earliest interaction: the smallest (ts, read_order).
  const joined = 'reviews r JOIN users USING (user_key) JOIN item_index USING (item_key)';
  await db.run(`
    CREATE TABLE kept AS SELECT users.u, item_index.i, r.ts, r.read_order FROM ${joined}
    ${opts.dedupe ? `QUALIFY row_number() OVER (PARTITION BY users.u, item_index.i ORDER BY ${orderColumns(log, 'r.')}) = 1` : ''}`);
  await db.run('DROP TABLE reviews');
  dropped.duplicates = log.length - (await db.number('SELECT count(*) FROM kept'));
  if (opts.requireMetadata) dropped.missingMetadata = await db.run('DELETE FROM kept WHERE i IN (SELECT i FROM item_index WHERE NOT has_text)');

  // Iterative k-core: each round drops users and items below k as counted at its start.
  let kCoreRounds = 0;
  if (opts.kCore > 0) {
    for (;;) {
      kCoreRounds++;
      const removed = await db.run(
        'DELETE FROM kept WHERE u IN (SELECT u FROM kept GROUP BY u HAVING count(*) < $1) OR i IN (SELECT i FROM kept GROUP BY i HAVING count(*) < $1)',
        [opts.kCore],
      );
      dropped.kCore += removed;
      if (removed === 0) break;
    }
  }
  dropped.shortSequences = await db.run('DELETE FROM kept WHERE u IN (SELECT u FROM kept GROUP BY u HAVING count(*) < $1)', [opts.minSequenceLength]);

  // New ids: users keep their order of first appearance; items are numbered as the kept sequences
  // (users in order, each in its own order) first name them.
  await db.run(`
    CREATE TABLE user_ids AS SELECT u, (row_number() OVER (ORDER BY u) - 1)::INTEGER AS user_id FROM (SELECT DISTINCT u FROM kept);
    CREATE TABLE item_ids AS
      SELECT i, (row_number() OVER (ORDER BY min(${orderKey(log, '', 'user_id')})) - 1)::INTEGER AS item_id
      FROM kept JOIN user_ids USING (u) GROUP BY i;
  `);
  const sourceIdsKept = opts.keepGivenIds && (await keepGivenIds(db));

  const [lengths] = await db.rows('SELECT count(*), coalesce(sum(n), 0), min(n), max(n) FROM (SELECT count(*) AS n FROM kept GROUP BY u)');
  const [source] = await db.rows('SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM item_index), (SELECT count(*) FROM item_index WHERE has_text)');
  const n = (v: unknown) => (v === null ? 0 : Number(v as bigint | number));
  return {
    users: n(lengths![0]),
    items: await db.number('SELECT count(*) FROM item_ids'),
    interactions: n(lengths![1]),
    minSequenceLength: n(lengths![2]),
    maxSequenceLength: n(lengths![3]),
    dropped,
    kCoreRounds,
    sourceIdsKept,
    source: { users: n(source![0]), items: n(source![1]), itemsWithMetadata: n(source![2]) },
  };
}

/**
 * The order of a user's interactions (ORDER BY columns): time, then reading order (equal times
 * keep the file order); without timestamps the reading order alone.
 */
export function orderColumns(log: Pick<InteractionLog, 'hasTimestamps'>, prefix = ''): string {
  return log.hasTimestamps ? `${prefix}ts, ${prefix}read_order` : `${prefix}read_order`;
}

/**
 * The same order as one comparable struct, for min() over a group (without timestamps ts rides
 * along unused). `first` puts a column in front ("first appearance, scanning users in order").
 */
export function orderKey(log: Pick<InteractionLog, 'hasTimestamps'>, prefix = '', first?: string): string {
  const fields = [...(first ? [first] : []), ...(log.hasTimestamps ? ['ts', 'read_order'] : ['read_order', 'ts'])];
  return `{${fields.map((f) => `'${f}': ${f === first ? f : prefix + f}`).join(', ')}}`;
}

/**
 * Replaces the new ids by the source's when the kept users' and items' keys spell exactly
 * 0..N-1 (each). Otherwise the first-appearance ids stand and this returns false.
 */
async function keepGivenIds(db: ScratchDb): Promise<boolean> {
  const contiguous = (ids: string, keys: string, key: string, id: string) => `
    SELECT count(g) = count(*) AND count(DISTINCT g) = count(*) AND min(g) = 0 AND max(g) = count(*) - 1
    FROM (SELECT ${givenId(key)} AS g FROM ${ids} JOIN ${keys} USING (${id}))`;
  const fits = (await db.number(contiguous('user_ids', 'users', 'user_key', 'u'))) === 1 && (await db.number(contiguous('item_ids', 'item_index', 'item_key', 'i'))) === 1;
  if (!fits) return false;
  await db.run(`
    UPDATE user_ids SET user_id = (SELECT ${givenId('user_key')} FROM users WHERE users.u = user_ids.u);
    UPDATE item_ids SET item_id = (SELECT ${givenId('item_key')} FROM item_index WHERE item_index.i = item_ids.i);
  `);
  return true;
}
