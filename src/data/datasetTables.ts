import * as arrow from 'apache-arrow';
import { listOfInt32Vector, listOfInt64Vector, type TableSchema } from '../tables/parquet.js';
import type { ItemText } from './itemText.js';
import type { SequenceSet } from './sequences.js';

/**
 * The three tables ingestion writes; later stages read them back with these schemas.
 * Ids are contiguous from 0: item_id is also the row of the item in every per-item matrix.
 */
export const ITEMS_SCHEMA = {
  item_id: new arrow.Int32(),
  source_id: new arrow.Utf8(),
  asin: new arrow.Utf8(),
  title: new arrow.Utf8(),
  description: new arrow.Utf8(),
  brand: new arrow.Utf8(),
  categories: new arrow.Utf8(),
  price: new arrow.Float64(),
} satisfies TableSchema;

export const INTERACTIONS_SCHEMA = {
  user_id: new arrow.Int32(),
  item_id: new arrow.Int32(),
  /** 0-based position in the user's chronological sequence. */
  position: new arrow.Int32(),
  /** Unix seconds as in the source; null when the source has no timestamps. */
  timestamp: new arrow.Int64(),
} satisfies TableSchema;

export const SEQUENCES_SCHEMA = {
  user_id: new arrow.Int32(),
  source_user_id: new arrow.Utf8(),
  items: new arrow.List(new arrow.Field('item', new arrow.Int32(), true)),
  timestamps: new arrow.List(new arrow.Field('item', new arrow.Int64(), true)),
  length: new arrow.Int32(),
  /** Leave-one-out (spec A.6): the validation target is items[valid_position] (= length - 2)... */
  valid_position: new arrow.Int32(),
  /** ...and the test target items[test_position] (= length - 1); training uses items[0..valid_position). */
  test_position: new arrow.Int32(),
} satisfies TableSchema;

/** One batch of `items.parquet` rows. */
export interface ItemRows {
  itemIds: Int32Array;
  sourceIds: readonly string[];
  texts: readonly ItemText[];
}

/** One batch of `interactions.parquet` rows, in (user, position) order. */
export interface InteractionColumns {
  user: Int32Array;
  item: Int32Array;
  position: Int32Array;
  /** Unix seconds as read (2023's milliseconds leave a fraction); undefined when the source has none. */
  time: Float64Array | undefined;
}

/** One batch of `sequences.parquet` rows: whole users. */
export interface SequenceRows {
  userIds: Int32Array;
  sourceUserIds: readonly string[];
  sequences: readonly Int32Array[];
  /** Aligned with `sequences`; undefined when the source has no timestamps. */
  timestamps: readonly Float64Array[] | undefined;
}

export function itemsBatch({ itemIds, sourceIds, texts }: ItemRows): arrow.Table {
  return new arrow.Table({
    item_id: arrow.makeVector(itemIds),
    source_id: utf8Vector(sourceIds),
    asin: utf8Vector(texts.map((r) => r.asin)),
    title: utf8Vector(texts.map((r) => r.title)),
    description: utf8Vector(texts.map((r) => r.description)),
    brand: utf8Vector(texts.map((r) => r.brand)),
    categories: utf8Vector(texts.map((r) => r.categories)),
    price: arrow.vectorFromArray(texts.map((r) => r.price), new arrow.Float64()),
  });
}

export function interactionsBatch({ user, item, position, time }: InteractionColumns): arrow.Table {
  const rows = user.length;
  // Whole seconds; sources in milliseconds (2023) keep the fraction only for ordering.
  const seconds = new BigInt64Array(rows);
  if (time) for (let r = 0; r < rows; r++) seconds[r] = BigInt(Math.floor(time[r]!));
  const timestamp = time
    ? arrow.makeVector(seconds)
    : arrow.makeVector(
        // parquet-wasm wants the values buffer even when every value is null.
        arrow.makeData({ type: new arrow.Int64(), length: rows, nullCount: rows, nullBitmap: new Uint8Array((rows + 7) >> 3), data: seconds }),
      );
  return new arrow.Table({
    user_id: arrow.makeVector(user),
    item_id: arrow.makeVector(item),
    position: arrow.makeVector(position),
    timestamp,
  });
}

export function sequencesBatch({ userIds, sourceUserIds, sequences, timestamps }: SequenceRows): arrow.Table {
  const lengths = Int32Array.from(sequences, (s) => s.length);
  return new arrow.Table({
    user_id: arrow.makeVector(userIds),
    source_user_id: utf8Vector(sourceUserIds),
    items: listOfInt32Vector(sequences),
    timestamps: listOfInt64Vector(timestamps ? timestamps.map((t) => t.map(Math.floor)) : sequences.map(() => null)),
    length: arrow.makeVector(lengths),
    valid_position: arrow.makeVector(lengths.map((n) => n - 2)),
    test_position: arrow.makeVector(lengths.map((n) => n - 1)),
  });
}

/**
 * Whole tables from sequences held in memory (small datasets, test fixtures); ingestion writes
 * the same tables batch by batch (src/data/datasetWriter.ts).
 */
export function itemsTable(set: SequenceSet, sourceIds: string[], text: (logItem: number) => ItemText): arrow.Table {
  return itemsBatch({
    itemIds: Int32Array.from(set.itemSource, (_, i) => i),
    sourceIds: Array.from(set.itemSource, (logItem) => sourceIds[logItem]!),
    texts: Array.from(set.itemSource, (logItem) => text(logItem)),
  });
}

export function interactionsTable(set: SequenceSet): arrow.Table {
  const total = set.sequences.reduce((n, s) => n + s.length, 0);
  const columns: InteractionColumns = {
    user: new Int32Array(total),
    item: new Int32Array(total),
    position: new Int32Array(total),
    time: set.timestamps ? new Float64Array(total) : undefined,
  };
  let row = 0;
  set.sequences.forEach((seq, u) => {
    seq.forEach((it, p) => {
      columns.user[row] = u;
      columns.item[row] = it;
      columns.position[row] = p;
      if (columns.time) columns.time[row] = set.timestamps![u]![p]!;
      row++;
    });
  });
  return interactionsBatch(columns);
}

export function sequencesTable(set: SequenceSet, sourceUserIds: string[]): arrow.Table {
  return sequencesBatch({
    userIds: Int32Array.from(set.sequences, (_, u) => u),
    sourceUserIds: Array.from(set.userSource, (u) => sourceUserIds[u]!),
    sequences: set.sequences,
    timestamps: set.timestamps,
  });
}

/**
 * A Utf8 vector encoded straight into one buffer (sized first, so no builder doubling): the item
 * text of a large category is tens of MB, and the builder's growth copies cost several times that.
 */
export function utf8Vector(values: readonly (string | null)[]): arrow.Vector<arrow.Utf8> {
  let bytes = 0;
  for (const v of values) if (v !== null) bytes += Buffer.byteLength(v, 'utf8');
  const data = Buffer.alloc(bytes);
  const valueOffsets = new Int32Array(values.length + 1);
  const nullBitmap = new Uint8Array((values.length + 7) >> 3);
  let nullCount = 0;
  let at = 0;
  values.forEach((v, i) => {
    if (v === null) nullCount++;
    else {
      nullBitmap[i >> 3]! |= 1 << (i & 7);
      at += data.write(v, at, 'utf8');
    }
    valueOffsets[i + 1] = at;
  });
  const bytesView = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return arrow.makeVector(arrow.makeData({ type: new arrow.Utf8(), length: values.length, nullCount, nullBitmap, valueOffsets, data: bytesView }));
}
