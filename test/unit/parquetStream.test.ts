import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { listOfInt32Vector, readParquet, writeParquet } from '../../src/tables/parquet.js';
import { ParquetStreamWriter } from '../../src/tables/parquetStream.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lcrec-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Rows [from, to) of a deterministic interactions-like table (fixed-width columns only). */
function flatRows(from: number, to: number): arrow.Table {
  const n = to - from;
  const user = new Int32Array(n);
  const item = new Int32Array(n);
  const time = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const r = from + i;
    user[i] = Math.floor(r / 9);
    item[i] = (r * 7919) % 50_021;
    time[i] = BigInt(1_300_000_000 + ((r * 104_729) % 90_000_000));
  }
  return new arrow.Table({ user_id: arrow.makeVector(user), item_id: arrow.makeVector(item), timestamp: arrow.makeVector(time) });
}

/** Rows [from, to) of a table with strings, nulls and lists. */
function mixedRows(from: number, to: number): arrow.Table {
  const names: (string | null)[] = [];
  const lists: number[][] = [];
  for (let r = from; r < to; r++) {
    names.push(r % 11 === 0 ? null : `user-${(r * 2_654_435_761) % 1_000_003}`);
    lists.push(Array.from({ length: 1 + (r % 13) }, (_, j) => (r * 31 + j * 17) % 9973));
  }
  return new arrow.Table({ name: arrow.vectorFromArray(names, new arrow.Utf8()), items: listOfInt32Vector(lists) });
}

async function streamed(file: string, make: (from: number, to: number) => arrow.Table, rows: number, batch: number, rowGroupSize?: number): Promise<void> {
  const writer = await ParquetStreamWriter.create(file, make(0, 0).schema, { rowGroupSize });
  for (let at = 0; at < rows; at += batch) await writer.write(make(at, Math.min(rows, at + batch)));
  assert.equal(writer.rowsWritten, rows);
  await writer.close();
}

test('one batch gives the bytes writeParquet gives', async (t) => {
  const dir = await tempDir(t);
  for (const [name, make] of [['flat', flatRows], ['mixed', mixedRows]] as const) {
    await writeParquet(path.join(dir, `${name}-whole.parquet`), make(0, 5000));
    await streamed(path.join(dir, `${name}-stream.parquet`), make, 5000, 5000);
    assert.deepEqual(await readFile(path.join(dir, `${name}-stream.parquet`)), await readFile(path.join(dir, `${name}-whole.parquet`)), name);
  }
});

test('fixed-width columns in batches of 64Ki rows give the same bytes across row groups', async (t) => {
  const dir = await tempDir(t);
  const rows = 300_000; // three row groups of 128Ki rows, the last one partial
  await writeParquet(path.join(dir, 'whole.parquet'), flatRows(0, rows), { rowGroupSize: 128 * 1024 });
  await streamed(path.join(dir, 'stream.parquet'), flatRows, rows, 64 * 1024, 128 * 1024);
  assert.deepEqual(await readFile(path.join(dir, 'stream.parquet')), await readFile(path.join(dir, 'whole.parquet')));
});

test('strings, nulls and lists in many batches read back as the same table', async (t) => {
  const dir = await tempDir(t);
  const rows = 40_000;
  await streamed(path.join(dir, 'stream.parquet'), mixedRows, rows, 3000, 16_384);
  const back = await readParquet(path.join(dir, 'stream.parquet'), { name: new arrow.Utf8(), items: new arrow.List(new arrow.Field('item', new arrow.Int32(), true)) });
  const expected = mixedRows(0, rows);
  assert.equal(back.numRows, rows);
  assert.deepEqual([...back.getChild('name')!], [...expected.getChild('name')!]);
  const lists = (table: arrow.Table) => [...table.getChild('items')!].map((v) => [...(v as arrow.Vector)]);
  assert.deepEqual(lists(back), lists(expected));
});

test('a file with no rows is a valid, empty Parquet file', async (t) => {
  const file = path.join(await tempDir(t), 'empty.parquet');
  const writer = await ParquetStreamWriter.create(file, flatRows(0, 0).schema);
  await writer.close();
  const back = await readParquet(file, { user_id: new arrow.Int32() });
  assert.equal(back.numRows, 0);
});

test('a batch with another schema is refused, naming the file', async (t) => {
  const file = path.join(await tempDir(t), 'x.parquet');
  const writer = await ParquetStreamWriter.create(file, flatRows(0, 0).schema);
  await writer.write(flatRows(0, 10));
  await assert.rejects(writer.write(mixedRows(0, 10)), (err: Error) => err.message.includes(file) && /schema/.test(err.message));
  await writer.abort();
});
