/**
 * The one place that knows the Parquet file format. Tables are apache-arrow JS tables; the
 * encoding is done by parquet-wasm (parquet-rs compiled to WebAssembly), moved across as an
 * Arrow IPC stream.
 *
 * Notes on apache-arrow 21 + parquet-wasm 0.8 (checked by test/unit/parquet.test.ts):
 * - Int64 columns come back as BigInt64Array; `vector.get(i)` returns a `bigint`.
 * - Int32 and Int64 share one Arrow type id (Type.Int), as do Float32/Float64 (Type.Float), so
 *   the schema check below compares the id AND the type's name (`Int32`, `List<Int32>`, ...).
 * - A List<Int32> column is most simply built with
 *     arrow.vectorFromArray(rows, new arrow.List(new arrow.Field('item', new arrow.Int32(), true)))
 *   (rows: number[][] with nulls allowed), but that goes through a per-element Builder; the
 *   helpers listOfInt32Vector/listOfInt64Vector below build the offsets and the flat child array
 *   directly with arrow.makeData, which is much faster for millions of items.
 * - The whole file and the whole table pass through WebAssembly memory (32-bit: at most 4 GiB,
 *   and it never shrinks), and Node cannot read a file over 2 GiB into one Buffer: keep single
 *   Parquet files well below ~1 GiB; shard bigger outputs.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import * as arrow from 'apache-arrow';
import {
  Compression,
  Table as WasmTable,
  WriterPropertiesBuilder,
  readParquet as wasmReadParquet,
  writeParquet as wasmWriteParquet,
} from 'parquet-wasm';
import { BadInputError } from '../errors.js';

/** Expected column types by column name; extra columns in a file are allowed. */
export type TableSchema = Record<string, arrow.DataType>;

export interface WriteParquetOptions {
  /** Default 'zstd'. */
  compression?: 'zstd' | 'snappy' | 'none';
  /** Rows per row group; parquet-rs default 1M. */
  rowGroupSize?: number;
}

const CODECS = { zstd: Compression.ZSTD, snappy: Compression.SNAPPY, none: Compression.UNCOMPRESSED };

/** Rows per record batch when decoding; parquet-rs defaults to 1024 (many tiny chunks in JS). */
const READ_BATCH_ROWS = 64 * 1024;

/**
 * Writes `table` to `path` atomically: the bytes go to `path.tmp-<random>`, are fsynced, and the
 * temp file is renamed over `path`, so `path` is either the old file or the complete new one.
 */
export async function writeParquet(
  path: string,
  table: arrow.Table,
  opts: WriteParquetOptions = {},
): Promise<void> {
  let props = new WriterPropertiesBuilder().setCompression(CODECS[opts.compression ?? 'zstd']);
  if (opts.rowGroupSize !== undefined) props = props.setMaxRowGroupSize(opts.rowGroupSize);
  // Both calls below consume (free) their wasm arguments.
  const bytes = wasmWriteParquet(WasmTable.fromIPCStream(arrow.tableToIPC(table, 'stream')), props.build());

  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Reads a whole Parquet file. With `expected`, every listed column must exist with that type;
 * all problems are reported together in one BadInputError naming the file.
 */
export async function readParquet<T extends TableSchema = any>(
  path: string,
  expected?: T,
): Promise<arrow.Table<T>> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BadInputError('no such file', { file: path });
    if (code === 'EISDIR') throw new BadInputError('is a directory, not a Parquet file', { file: path });
    throw err;
  }
  let table: arrow.Table;
  try {
    table = arrow.tableFromIPC(wasmReadParquet(bytes, { batchSize: READ_BATCH_ROWS }).intoIPCStream());
  } catch (err) {
    throw new BadInputError(`not a readable Parquet file (${errorText(err)})`, { file: path });
  }
  if (expected !== undefined) checkSchema(path, table.schema, expected);
  return table as arrow.Table<T>;
}

function checkSchema(path: string, schema: arrow.Schema, expected: TableSchema): void {
  const problems: { field: string; reason: string }[] = [];
  for (const [name, want] of Object.entries(expected)) {
    const found = schema.fields.find((f) => f.name === name);
    if (found === undefined) problems.push({ field: name, reason: `missing column (expected ${want})` });
    else if (found.typeId !== want.typeId || String(found.type) !== String(want))
      problems.push({ field: name, reason: `expected ${want}, found ${found.type}` });
  }
  const [first] = problems;
  if (first === undefined) return;
  if (problems.length === 1) throw new BadInputError(first.reason, { file: path, field: first.field });
  throw new BadInputError(problems.map((p) => `field '${p.field}': ${p.reason}`).join('; '), { file: path });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A List<Int32> vector, one list per row (null = null row), e.g. each user's item ids. */
export function listOfInt32Vector(rows: readonly (ArrayLike<number> | null)[]): arrow.Vector<arrow.List<arrow.Int32>> {
  const layout = listLayout(rows);
  const values = new Int32Array(layout.total);
  rows.forEach((row, i) => row != null && values.set(row, layout.offsets[i]));
  return listVector(layout, arrow.makeData({ type: new arrow.Int32(), data: values }));
}

/** A List<Int64> vector (numbers or bigints in; BigInt64Array inside), e.g. per-item timestamps. */
export function listOfInt64Vector(
  rows: readonly (ArrayLike<number | bigint> | null)[],
): arrow.Vector<arrow.List<arrow.Int64>> {
  const layout = listLayout(rows);
  const values = new BigInt64Array(layout.total);
  rows.forEach((row, i) => {
    const at = layout.offsets[i]!;
    for (let j = 0; row != null && j < row.length; j++) values[at + j] = BigInt(row[j]!);
  });
  return listVector(layout, arrow.makeData({ type: new arrow.Int64(), data: values }));
}

interface ListLayout {
  length: number;
  total: number;
  offsets: Int32Array;
  nullCount: number;
  nullBitmap: Uint8Array | undefined;
}

function listLayout(rows: readonly (ArrayLike<unknown> | null)[]): ListLayout {
  const offsets = new Int32Array(rows.length + 1);
  const validity = new Uint8Array((rows.length + 7) >> 3);
  let total = 0;
  let nullCount = 0;
  rows.forEach((row, i) => {
    if (row == null) nullCount++;
    else {
      total += row.length;
      validity[i >> 3]! |= 1 << (i & 7);
    }
    if (total > 0x7fffffff) throw new RangeError('list column holds more than 2^31-1 items');
    offsets[i + 1] = total;
  });
  return { length: rows.length, total, offsets, nullCount, nullBitmap: nullCount > 0 ? validity : undefined };
}

function listVector<T extends arrow.Int32 | arrow.Int64>(layout: ListLayout, child: arrow.Data<T>): arrow.Vector<arrow.List<T>> {
  const type = new arrow.List(new arrow.Field('item', child.type, true));
  const { length, nullCount, nullBitmap, offsets: valueOffsets } = layout;
  return arrow.makeVector(arrow.makeData({ type, length, nullCount, nullBitmap, valueOffsets, child }));
}
