import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { Compression, ParquetFile } from 'parquet-wasm';
import { BadInputError } from '../../src/errors.js';
import { listOfInt32Vector, listOfInt64Vector, readParquet, writeParquet } from '../../src/tables/parquet.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lcrec-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const intList = () => new arrow.List(new arrow.Field('item', new arrow.Int32(), true));

function realisticTable(): arrow.Table {
  return new arrow.Table({
    user: arrow.makeVector(new Int32Array([7, 8, 9, 10])),
    title: arrow.vectorFromArray(['Dune', null, 'Ça 😀', ''], new arrow.Utf8()),
    rating: arrow.makeVector(new Float64Array([4.5, 1, -0.25, 3])),
    ts: arrow.makeVector(new BigInt64Array([0n, -1n, 9007199254740993n, 1_700_000_000_000n])),
    items: listOfInt32Vector([[1, 2, 3], [], null, new Int32Array([42])]),
  });
}

test('round trip keeps types, values, nulls and lists', async (t) => {
  const file = path.join(await tempDir(t), 'users.parquet');
  await writeParquet(file, realisticTable());
  const back = await readParquet(file, {
    user: new arrow.Int32(),
    title: new arrow.Utf8(),
    rating: new arrow.Float64(),
    ts: new arrow.Int64(),
    items: intList(),
  });
  assert.equal(back.numRows, 4);
  assert.deepEqual(
    back.schema.fields.map((f) => `${f.name}:${f.type}`),
    ['user:Int32', 'title:Utf8', 'rating:Float64', 'ts:Int64', 'items:List<Int32>'],
  );
  assert.deepEqual([...back.getChild('user')!], [7, 8, 9, 10]);
  assert.deepEqual([...back.getChild('title')!], ['Dune', null, 'Ça 😀', '']);
  assert.deepEqual([...back.getChild('rating')!], [4.5, 1, -0.25, 3]);
  // Int64 comes back as bigint, exact beyond 2^53.
  assert.deepEqual([...back.getChild('ts')!], [0n, -1n, 9007199254740993n, 1_700_000_000_000n]);
  const items = back.getChild('items')!;
  assert.deepEqual(
    [...items].map((v) => (v === null ? null : [...v])),
    [[1, 2, 3], [], null, [42]],
  );
  assert.equal(items.nullCount, 1);
});

test('listOfInt32Vector matches arrow.vectorFromArray; listOfInt64Vector round-trips', async (t) => {
  const rows = [[5, 6], null, [], [7]];
  const viaBuilder = arrow.vectorFromArray(rows, intList());
  const viaHelper = listOfInt32Vector(rows);
  assert.equal(String(viaHelper.type), String(viaBuilder.type));
  assert.deepEqual(viaHelper.toJSON().map((v) => v && [...v]), viaBuilder.toJSON().map((v) => v && [...v]));

  const file = path.join(await tempDir(t), 'times.parquet');
  await writeParquet(file, new arrow.Table({ times: listOfInt64Vector([[1, 2n ** 40n], null, [3]]) }));
  const back = await readParquet(file, { times: new arrow.List(new arrow.Field('item', new arrow.Int64())) });
  assert.deepEqual(
    [...back.getChild('times')!].map((v) => (v === null ? null : [...v])),
    [[1n, 2n ** 40n], null, [3n]],
  );
});

test('ZSTD is the default codec and really compresses', async (t) => {
  const dir = await tempDir(t);
  const n = 200_000;
  const repetitive = new arrow.Table({
    a: arrow.makeVector(Int32Array.from({ length: n }, (_, i) => i % 10)),
    s: arrow.vectorFromArray(Array.from({ length: n }, (_, i) => `row ${i % 100} of a very repetitive column`)),
  });
  const zstd = path.join(dir, 'z.parquet');
  const none = path.join(dir, 'n.parquet');
  await writeParquet(zstd, repetitive);
  await writeParquet(none, repetitive, { compression: 'none' });

  const meta = (await ParquetFile.fromFile(new Blob([await readFile(zstd)]))).metadata();
  const codecs = meta.rowGroups().flatMap((rg) => rg.columns().map((c) => c.compression()));
  assert.ok(codecs.length >= 2);
  assert.ok(codecs.every((c) => c === Compression.ZSTD), `codecs: ${codecs.join(',')}`);
  const metaNone = (await ParquetFile.fromFile(new Blob([await readFile(none)]))).metadata();
  assert.ok(metaNone.rowGroups().every((rg) => rg.columns().every((c) => c.compression() === Compression.UNCOMPRESSED)));

  const [zs, ns] = [(await stat(zstd)).size, (await stat(none)).size];
  assert.ok(zs * 4 < ns, `zstd ${zs} bytes vs none ${ns} bytes`);
  assert.equal((await readParquet(zstd)).numRows, n);
});

test('schema mismatch names the file and every wrong field', async (t) => {
  const file = path.join(await tempDir(t), 'items.parquet');
  await writeParquet(file, realisticTable());

  await assert.rejects(readParquet(file, { title: new arrow.Int32() }), (err: unknown) => {
    assert.ok(err instanceof BadInputError);
    assert.equal(err.message, `${file}, field 'title': expected Int32, found Utf8`);
    assert.deepEqual(err.location, { file, field: 'title' });
    return true;
  });

  await assert.rejects(
    readParquet(file, { user: new arrow.Int64(), items: new arrow.List(new arrow.Field('item', new arrow.Int64())), nope: new arrow.Utf8() }),
    (err: unknown) => {
      assert.ok(err instanceof BadInputError);
      assert.match(err.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
      assert.match(err.message, /field 'user': expected Int64, found Int32/);
      assert.match(err.message, /field 'items': expected List<Int64>, found List<Int32>/);
      assert.match(err.message, /field 'nope': missing column/);
      return true;
    },
  );
});

test('missing or corrupt file is a BadInputError naming the file', async (t) => {
  const dir = await tempDir(t);
  const missing = path.join(dir, 'missing.parquet');
  await assert.rejects(readParquet(missing), { name: 'BadInputError', message: `${missing}: no such file` });
  const junk = path.join(dir, 'junk.parquet');
  await writeFile(junk, 'not parquet at all');
  await assert.rejects(readParquet(junk), (err: unknown) => err instanceof BadInputError && err.message.startsWith(`${junk}: `));
});

test('writes leave no temp file; overwrite replaces; failed writes leave nothing at the path', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'out.parquet');
  await writeParquet(file, realisticTable());
  await writeParquet(file, new arrow.Table({ x: arrow.makeVector(new Int32Array([1])) }));
  assert.deepEqual(await readdir(dir), ['out.parquet']);
  assert.deepEqual([...(await readParquet(file)).getChild('x')!], [1]);

  // Directory does not exist: nothing gets created.
  const nowhere = path.join(dir, 'no-such-dir', 'out.parquet');
  await assert.rejects(writeParquet(nowhere, realisticTable()));
  assert.deepEqual(await readdir(dir), ['out.parquet']);

  // The final rename fails (the path is a non-empty directory): the temp file is cleaned up.
  const blocked = path.join(dir, 'blocked.parquet');
  await mkdir(blocked);
  await writeFile(path.join(blocked, 'keep'), 'x');
  await assert.rejects(writeParquet(blocked, realisticTable()));
  assert.deepEqual((await readdir(dir)).sort(), ['blocked.parquet', 'out.parquet']);
  assert.deepEqual(await readdir(blocked), ['keep']);
});
