/**
 * Writes the three tables of an ingested dataset from the scratch tables that buildSequences
 * (src/data/sequences.ts) leaves, streaming: DuckDB sorts the rows into output order and exports
 * them to text files in the scratch directory; those are read back line by line into the Parquet
 * encoders a batch at a time, so memory holds one batch per file.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { ParquetStreamWriter } from '../tables/parquetStream.js';
import {
  interactionsBatch,
  INTERACTIONS_SCHEMA,
  itemsBatch,
  ITEMS_SCHEMA,
  sequencesBatch,
  SEQUENCES_SCHEMA,
  type ItemRows,
} from './datasetTables.js';
import type { ItemText, ProgressSink } from './itemText.js';
import { readLines } from './lineReader.js';
import type { ScratchDb } from './scratchDb.js';
import { orderColumns } from './sequences.js';

/**
 * Users per batch of sequences, items per batch of items, and rows per batch of interactions. A
 * multiple of 1024, so the interactions file has the bytes a whole-table write gives (see
 * parquetStream.ts); and above the user and item counts of the usual benchmark categories, whose
 * files are then one batch and byte for byte what a whole-table write makes.
 */
const BATCH_ROWS = 64 * 1024;
/**
 * Without timestamps the interactions' all-null timestamp column ends its data pages where batches
 * end (measured), so there a batch is a whole row group (parquet-rs' default 1Mi rows): the bytes
 * then match a whole-table write too. Such sources (LC-Rec, RecBole splits) are small.
 */
const UNTIMED_BATCH_ROWS = 1024 * 1024;
/** Row groups of the per-user and per-item files: bounds the encoder's buffer for long texts. */
const GROUP_ROWS = 64 * 1024;
/** An items batch ends early once its text reaches this many UTF-16 code units. */
const ITEM_TEXT_BUDGET = 16 * 1024 * 1024;

export async function writeDatasetTables(db: ScratchDb, dir: string, hasTimestamps: boolean, onProgress?: ProgressSink): Promise<void> {
  onProgress?.({ phase: 'writing', done: 0, total: 2 });
  await writeItems(db, join(dir, 'items.parquet'));
  onProgress?.({ phase: 'writing', done: 1, total: 2 });
  await writeInteractionsAndSequences(db, dir, hasTimestamps);
  onProgress?.({ phase: 'writing', done: 2, total: 2 });
}

/** Streams `writer`-bound batches; aborts the file on any failure. */
async function withWriter(path: string, schema: Record<string, arrow.DataType>, rowGroupSize: number | undefined, body: (writer: ParquetStreamWriter) => Promise<void>): Promise<void> {
  const fields = Object.entries(schema).map(([name, type]) => new arrow.Field(name, type, true));
  const writer = await ParquetStreamWriter.create(path, new arrow.Schema(fields), { rowGroupSize });
  try {
    await body(writer);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await writer.close();
}

async function writeItems(db: ScratchDb, path: string): Promise<void> {
  // An item's record with the smallest meta_row wins; items without one get empty text. The choice
  // is made on integers; the text only streams through a join on a small table and the sort.
  await db.run(`
    CREATE TABLE item_choice AS
      SELECT ids.item_id, ix.item_key, m.meta_row
      FROM item_ids ids JOIN item_index ix USING (i)
      LEFT JOIN (SELECT item_key, min(meta_row) AS meta_row FROM item_text GROUP BY item_key) m USING (item_key)`);
  const exported = await db.export(
    'items.jsonl',
    `SELECT c.item_id AS id, c.item_key AS key, t.asin, t.title, t.description, t.brand, t.categories, t.price
     FROM item_text t JOIN item_choice c USING (meta_row)
     UNION ALL
     SELECT item_id, item_key, NULL, '', '', '', '', NULL FROM item_choice WHERE meta_row IS NULL
     ORDER BY 1`,
    'json',
  );
  await withWriter(path, ITEMS_SCHEMA, GROUP_ROWS, async (writer) => {
    let batch: { itemIds: number[]; sourceIds: string[]; texts: ItemText[] } = { itemIds: [], sourceIds: [], texts: [] };
    let textLength = 0;
    const flush = async () => {
      const rows: ItemRows = { itemIds: Int32Array.from(batch.itemIds), sourceIds: batch.sourceIds, texts: batch.texts };
      batch = { itemIds: [], sourceIds: [], texts: [] };
      textLength = 0;
      await writer.write(itemsBatch(rows));
    };
    for await (const { line, lineNumber } of readLines(exported)) {
      const { id, key, ...text } = JSON.parse(line) as { id: number; key: string } & ItemText;
      if (id !== lineNumber - 1) throw new Error(`${exported}:${lineNumber}: item ${id} out of order`);
      batch.itemIds.push(id);
      batch.sourceIds.push(key);
      batch.texts.push(text);
      textLength += text.title.length + text.description.length + text.brand.length + text.categories.length;
      if (batch.itemIds.length === BATCH_ROWS || textLength >= ITEM_TEXT_BUDGET) await flush();
    }
    if (batch.itemIds.length > 0) await flush();
  });
  await rm(exported);
}

/**
 * Both per-user files from one ordered pass over the kept interactions (positions are counted
 * here), with the users' source ids read beside it from a file in the same user order (so the
 * big sort carries no strings).
 */
async function writeInteractionsAndSequences(db: ScratchDb, dir: string, hasTimestamps: boolean): Promise<void> {
  const userKeys = await db.export('users.jsonl', 'SELECT user_key AS key FROM user_ids JOIN users USING (u) ORDER BY user_id', 'json');
  const ordered = await db.export(
    'interactions.csv',
    `SELECT uid.user_id, iid.item_id${hasTimestamps ? ', floor(k.ts)::BIGINT' : ''}
     FROM kept k JOIN user_ids uid USING (u) JOIN item_ids iid USING (i)
     ORDER BY uid.user_id, ${orderColumns({ hasTimestamps }, 'k.')}`,
    'csv',
  );
  const keys = readLines(userKeys);
  try {
    await withWriter(join(dir, 'interactions.parquet'), INTERACTIONS_SCHEMA, undefined, (interactions) =>
      withWriter(join(dir, 'sequences.parquet'), SEQUENCES_SCHEMA, GROUP_ROWS, async (sequences) => {
        const rows = new InteractionBatch(hasTimestamps);
        const users = new SequenceBatch(hasTimestamps);
        let current = -1;
        let position = 0;
        for await (const { line, lineNumber } of readLines(ordered)) {
          const [user, item, seconds] = line.split(',');
          const userId = Number(user);
          const itemId = Number(item);
          const time = hasTimestamps ? Number(seconds) : 0;
          if (userId !== current) {
            // Users come in id order 0, 1, 2, ...: line n of the keys file is user n's.
            if (userId !== current + 1) throw new Error(`${ordered}:${lineNumber}: user ${userId} follows user ${current}`);
            if (users.size === BATCH_ROWS) await sequences.write(users.take());
            const next = await keys.next();
            if (next.done) throw new Error(`${userKeys}: no source id for user ${userId}`);
            users.startUser(userId, (JSON.parse(next.value.line) as { key: string }).key);
            current = userId;
            position = 0;
          }
          users.add(itemId, time);
          rows.add(userId, itemId, position++, time);
          if (rows.size === rows.capacity) await interactions.write(rows.take());
        }
        if (rows.size > 0) await interactions.write(rows.take());
        if (users.size > 0) await sequences.write(users.take());
      }),
    );
  } finally {
    await keys.return(undefined);
  }
  await rm(userKeys);
  await rm(ordered);
}

class InteractionBatch {
  size = 0;
  readonly capacity: number;
  private user: Int32Array;
  private item: Int32Array;
  private position: Int32Array;
  private time: Float64Array | undefined;

  constructor(hasTimestamps: boolean) {
    this.capacity = hasTimestamps ? BATCH_ROWS : UNTIMED_BATCH_ROWS;
    this.user = new Int32Array(this.capacity);
    this.item = new Int32Array(this.capacity);
    this.position = new Int32Array(this.capacity);
    this.time = hasTimestamps ? new Float64Array(this.capacity) : undefined;
  }

  add(user: number, item: number, position: number, time: number): void {
    this.user[this.size] = user;
    this.item[this.size] = item;
    this.position[this.size] = position;
    if (this.time) this.time[this.size] = time;
    this.size++;
  }

  take(): arrow.Table {
    const n = this.size;
    const table = interactionsBatch({ user: this.user.slice(0, n), item: this.item.slice(0, n), position: this.position.slice(0, n), time: this.time?.slice(0, n) });
    this.size = 0;
    return table;
  }
}

/** Whole users' sequences, in flat growable buffers. */
class SequenceBatch {
  private userIds: number[] = [];
  private keys: string[] = [];
  private starts: number[] = [];
  private items = new Int32Array(BATCH_ROWS);
  private times = new Float64Array(BATCH_ROWS);
  private length = 0;

  constructor(private readonly hasTimestamps: boolean) {}

  get size(): number {
    return this.userIds.length;
  }

  startUser(userId: number, sourceUserId: string): void {
    this.userIds.push(userId);
    this.keys.push(sourceUserId);
    this.starts.push(this.length);
  }

  add(item: number, time: number): void {
    if (this.length === this.items.length) {
      const items = new Int32Array(this.items.length * 2);
      items.set(this.items);
      this.items = items;
      const times = new Float64Array(this.times.length * 2);
      times.set(this.times);
      this.times = times;
    }
    this.items[this.length] = item;
    this.times[this.length++] = time;
  }

  take(): arrow.Table {
    const ends = [...this.starts.slice(1), this.length];
    const table = sequencesBatch({
      userIds: Int32Array.from(this.userIds),
      sourceUserIds: this.keys,
      sequences: this.starts.map((from, u) => this.items.subarray(from, ends[u])),
      timestamps: this.hasTimestamps ? this.starts.map((from, u) => this.times.subarray(from, ends[u])) : undefined,
    });
    this.userIds = [];
    this.keys = [];
    this.starts = [];
    this.length = 0;
    return table;
  }
}
