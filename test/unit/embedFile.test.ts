import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { BadInputError } from '../../src/errors.js';
import { DEFAULT_EMBED_SETTINGS, embedItems } from '../../src/embed/embedItems.js';
import { DEFAULT_FILE_ENCODER_SETTINGS, loadEmbeddingFile } from '../../src/embed/fileEncoder.js';
import type { FileEncoderSettings, ItemKeys } from '../../src/embed/fileEncoder.js';
import { encodeNpy } from '../../src/embed/npy.js';
import { EMBEDDINGS_FILE, readItemEmbeddings, writeItemEmbeddings } from '../../src/embed/writeEmbeddings.js';
import { writeParquet } from '../../src/tables/parquet.js';
import { writeSafetensors } from '../../src/tensor/safetensors.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lcrec-embfile-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const N = 4;
const D = 3;
/** Row i = [i, i + 0.5, -i]. */
const matrix = Float64Array.from({ length: N * D }, (_, k) => {
  const i = Math.floor(k / D);
  return [i, i + 0.5, -i][k % D] as number;
});
const keys: ItemKeys = { count: N, sourceIds: ['B10', 'B11', 'B12', 'B13'], asins: ['A0', 'A1', null, 'A3'] };
const settings = (file: string, over: Partial<FileEncoderSettings> = {}): FileEncoderSettings => ({ ...DEFAULT_FILE_ENCODER_SETTINGS, path: file, ...over });

function rowOf(e: Float32Array, i: number): number[] {
  return [...e.subarray(i * D, (i + 1) * D)];
}

/** A safetensors file of arbitrary dtypes, laid out by hand. */
function rawSafetensors(tensors: Record<string, { dtype: string; shape: number[]; bytes: Uint8Array }>): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(Buffer.from(json), 8);
  let at = 8 + json.length;
  for (const t of Object.values(tensors)) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function isBad(pattern: RegExp, field?: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof BadInputError, `expected a BadInputError, got ${String(e)}`);
    assert.match(e.message, pattern);
    if (field !== undefined) assert.equal(e.location.field, field);
    return true;
  };
}

test('npy: float32, float64, float16 and big-endian matrices load as float32 in row order', async (t) => {
  const dir = await tempDir(t);
  const f32 = path.join(dir, 'e32.npy');
  await writeFile(f32, encodeNpy(Float32Array.from(matrix), [N, D]));
  const a = await loadEmbeddingFile(settings(f32), keys);
  assert.deepEqual([a.count, a.dim, a.format, a.dtype, a.idsChecked], [N, D, 'npy', '<f4', false]);
  assert.deepEqual(rowOf(a.embeddings, 2), [2, 2.5, -2]);

  const f64 = path.join(dir, 'e64.npy');
  await writeFile(f64, encodeNpy(matrix, [N, D]));
  assert.deepEqual([...(await loadEmbeddingFile(settings(f64), keys)).embeddings], [...Float32Array.from(matrix)]);

  // float16: 1.0 = 0x3c00, -2.0 = 0xc000, 0.5 = 0x3800
  const f16 = path.join(dir, 'e16.npy');
  await writeFile(f16, encodeNpy(Uint16Array.from({ length: N * D }, (_, k) => [0x3c00, 0xc000, 0x3800][k % 3] as number), [N, D], '<f2'));
  assert.deepEqual(rowOf((await loadEmbeddingFile(settings(f16), keys)).embeddings, 1), [1, -2, 0.5]);

  const big = Buffer.from(encodeNpy(Float32Array.from(matrix), [N, D], '>f4'));
  const dataStart = big.length - N * D * 4;
  for (let k = 0; k < N * D; k++) big.writeFloatBE(matrix[k] as number, dataStart + 4 * k);
  const be = path.join(dir, 'be.npy');
  await writeFile(be, big);
  assert.deepEqual(rowOf((await loadEmbeddingFile(settings(be), keys)).embeddings, 3), [3, 3.5, -3]);
});

test('npy: wrong dtype, rank, order, row count, dimension and NaN/Inf are BadInputErrors naming the place', async (t) => {
  const dir = await tempDir(t);
  const put = async (name: string, bytes: Uint8Array) => {
    const file = path.join(dir, name);
    await writeFile(file, bytes);
    return file;
  };
  await assert.rejects(loadEmbeddingFile(settings(await put('i.npy', encodeNpy(new Int32Array(N * D), [N, D]))), keys), isBad(/unsupported dtype '<i4'/, 'descr'));
  await assert.rejects(loadEmbeddingFile(settings(await put('r.npy', encodeNpy(new Float32Array(N * D), [N, D, 1]))), keys), isBad(/2-D/, 'shape'));
  const fortran = Buffer.from(encodeNpy(new Float32Array(N * D), [N, D]));
  fortran.write("'fortran_order': True, ", fortran.indexOf("'fortran_order': False, "), 'latin1');
  await assert.rejects(loadEmbeddingFile(settings(await put('f.npy', fortran)), keys), isBad(/Fortran order/, 'fortran_order'));
  await assert.rejects(loadEmbeddingFile(settings(await put('n.npy', encodeNpy(new Float32Array(5 * D), [5, D]))), keys), isBad(/5 embedding rows for 4 items/));
  await assert.rejects(loadEmbeddingFile(settings(await put('d.npy', encodeNpy(new Float32Array(N * D), [N, D])), { dim: 768 }), keys), isBad(/3 dimensions, the settings expect 768/, 'dim'));
  const nan = Float32Array.from(matrix);
  nan[2 * D + 1] = Number.NaN;
  await assert.rejects(loadEmbeddingFile(settings(await put('nan.npy', encodeNpy(nan, [N, D]))), keys), isBad(/row 2, column 1: NaN/, 'row 2'));
  const huge = Float64Array.from(matrix);
  huge[3 * D] = 1e300;
  await assert.rejects(loadEmbeddingFile(settings(await put('huge.npy', encodeNpy(huge, [N, D]))), keys), isBad(/row 3.*outside the float32 range/, 'row 3'));
  const full = encodeNpy(Float32Array.from(matrix), [N, D]);
  const truncated = full.subarray(0, full.length - 8);
  await assert.rejects(loadEmbeddingFile(settings(await put('t.npy', truncated)), keys), isBad(/truncated/));
  await assert.rejects(loadEmbeddingFile(settings(await put('x.txt', new Uint8Array(4))), keys), isBad(/unknown embeddings file type/));
  await assert.rejects(loadEmbeddingFile(settings(path.join(dir, 'absent.npy')), keys), isBad(/no such file/, 'embed.file.path'));
});

test('npy with an ids file: rows are placed by id; unknown or repeated ids are rejected', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'e.npy');
  await writeFile(file, encodeNpy(Float32Array.from(matrix), [N, D]));
  const ids = path.join(dir, 'ids.json');
  await writeFile(ids, JSON.stringify([3, 1, 0, 2])); // row 0 holds item 3
  const r = await loadEmbeddingFile(settings(file, { idsPath: ids }), keys);
  assert.equal(r.idsChecked, true);
  assert.deepEqual(rowOf(r.embeddings, 3), [0, 0.5, -0]);
  assert.deepEqual(rowOf(r.embeddings, 2), [3, 3.5, -3]);

  const strings = path.join(dir, 'ids.txt');
  await writeFile(strings, 'A3\nB11\nB10\n2\n'); // an asin, source ids, an item_id
  assert.deepEqual(rowOf((await loadEmbeddingFile(settings(file, { idsPath: strings }), keys)).embeddings, 3), [0, 0.5, -0]);

  const idsNpy = path.join(dir, 'ids.npy');
  await writeFile(idsNpy, encodeNpy(Int32Array.from([0, 1, 2, 3]), [N]));
  assert.deepEqual([...(await loadEmbeddingFile(settings(file, { idsPath: idsNpy }), keys)).embeddings], [...Float32Array.from(matrix)]);

  await writeFile(ids, JSON.stringify([0, 1, 1, 2]));
  await assert.rejects(loadEmbeddingFile(settings(file, { idsPath: ids }), keys), isBad(/rows 1 and 2 both hold item 1/));
  await writeFile(ids, JSON.stringify([0, 1, 2, 4]));
  await assert.rejects(loadEmbeddingFile(settings(file, { idsPath: ids }), keys), isBad(/row 3: item_id 4 is not an item/));
  await writeFile(ids, JSON.stringify([0, 1, 2]));
  await assert.rejects(loadEmbeddingFile(settings(file, { idsPath: ids }), keys), isBad(/3 ids for 4 embedding rows/));
});

test('safetensors: the only matrix or a named one, F32/F64, id tensor, unsupported dtype', async (t) => {
  const dir = await tempDir(t);
  const one = path.join(dir, 'one.safetensors');
  await writeSafetensors(one, { emb: { shape: [N, D], data: Float32Array.from(matrix) } });
  assert.deepEqual(rowOf((await loadEmbeddingFile(settings(one), keys)).embeddings, 1), [1, 1.5, -1]);

  const two = path.join(dir, 'two.safetensors');
  await writeSafetensors(two, { a: { shape: [N, D], data: Float32Array.from(matrix) }, b: { shape: [N, D], data: new Float32Array(N * D) } });
  await assert.rejects(loadEmbeddingFile(settings(two), keys), isBad(/several 2-D tensors \(a, b\)/, 'tensor'));
  assert.deepEqual(rowOf((await loadEmbeddingFile(settings(two, { tensor: 'a' }), keys)).embeddings, 1), [1, 1.5, -1]);
  await assert.rejects(loadEmbeddingFile(settings(two, { tensor: 'c' }), keys), isBad(/no tensor named 'c'/));

  const withIds = path.join(dir, 'ids.safetensors');
  await writeSafetensors(withIds, { emb: { shape: [N, D], data: Float32Array.from(matrix) }, item_id: { shape: [N], data: Int32Array.from([1, 0, 3, 2]) } });
  const placed = await loadEmbeddingFile(settings(withIds), keys);
  assert.equal(placed.idsChecked, true);
  assert.deepEqual(rowOf(placed.embeddings, 0), [1, 1.5, -1]);

  const f64 = path.join(dir, 'f64.safetensors');
  await writeFile(f64, rawSafetensors({ emb: { dtype: 'F64', shape: [N, D], bytes: bytesOf(matrix) } }));
  const r64 = await loadEmbeddingFile(settings(f64), keys);
  assert.equal(r64.dtype, 'F64');
  assert.deepEqual([...r64.embeddings], [...Float32Array.from(matrix)]);

  const ints = path.join(dir, 'i.safetensors');
  await writeFile(ints, rawSafetensors({ emb: { dtype: 'I64', shape: [N, D], bytes: new Uint8Array(N * D * 8) } }));
  await assert.rejects(loadEmbeddingFile(settings(ints), keys), isBad(/dtype I64: embeddings must be F32, F16, BF16 or F64/, 'emb'));
  const u16 = path.join(dir, 'u.safetensors');
  await writeFile(u16, rawSafetensors({ emb: { dtype: 'U16', shape: [N, D], bytes: new Uint8Array(N * D * 2) } }));
  await assert.rejects(loadEmbeddingFile(settings(u16), keys), isBad(/dtype U16/));

  const inf = Float32Array.from(matrix);
  inf[D] = Number.POSITIVE_INFINITY;
  const bad = path.join(dir, 'inf.safetensors');
  await writeSafetensors(bad, { emb: { shape: [N, D], data: inf } });
  await assert.rejects(loadEmbeddingFile(settings(bad), keys), isBad(/row 1, column 0 is Infinity/, 'row 1'));
});

test('parquet: list<float> or one column per dimension, placed by item_id; missing, duplicate and ragged rows rejected', async (t) => {
  const dir = await tempDir(t);
  const order = [2, 0, 3, 1];
  const listType = (child: arrow.Float) => new arrow.List(new arrow.Field('item', child, true));
  const rows = order.map((i) => [...matrix.subarray(i * D, (i + 1) * D)]);
  const listFile = path.join(dir, 'list.parquet');
  await writeParquet(listFile, new arrow.Table({ item_id: arrow.makeVector(Int32Array.from(order)), embedding: arrow.vectorFromArray(rows, listType(new arrow.Float32())) }));
  const r = await loadEmbeddingFile(settings(listFile), keys);
  assert.deepEqual([...r.embeddings], [...Float32Array.from(matrix)]);
  assert.equal(r.format, 'parquet');

  const genrec = path.join(dir, 'item_emb.parquet');
  await writeParquet(genrec, new arrow.Table({ ItemID: arrow.makeVector(BigInt64Array.from(order.map(BigInt))), embedding: arrow.vectorFromArray(rows, listType(new arrow.Float64())) }));
  assert.deepEqual([...(await loadEmbeddingFile(settings(genrec, { idColumn: 'ItemID' }), keys)).embeddings], [...Float32Array.from(matrix)]);
  await assert.rejects(loadEmbeddingFile(settings(genrec), keys), isBad(/no id column 'item_id'/, 'item_id'));

  const wide = path.join(dir, 'wide.parquet');
  const columns: Record<string, arrow.Vector> = { item_id: arrow.makeVector(Int32Array.from(order)), title: arrow.vectorFromArray(['a', 'b', 'c', 'd'], new arrow.Utf8()) };
  for (let j = 0; j < D; j++) columns[`e${j}`] = arrow.makeVector(Float32Array.from(order, (i) => matrix[i * D + j] as number));
  await writeParquet(wide, new arrow.Table(columns));
  const w = await loadEmbeddingFile(settings(wide), keys);
  assert.equal(w.dim, D);
  assert.deepEqual([...w.embeddings], [...Float32Array.from(matrix)]);

  const missing = path.join(dir, 'missing.parquet');
  await writeParquet(missing, new arrow.Table({ item_id: arrow.makeVector(Int32Array.from([0, 1, 2])), embedding: arrow.vectorFromArray(rows.slice(0, 3), listType(new arrow.Float32())) }));
  await assert.rejects(loadEmbeddingFile(settings(missing), keys), isBad(/3 embedding rows for 4 items/, 'item_id'));
  const dup = path.join(dir, 'dup.parquet');
  await writeParquet(dup, new arrow.Table({ item_id: arrow.makeVector(Int32Array.from([0, 1, 2, 2])), embedding: arrow.vectorFromArray(rows, listType(new arrow.Float32())) }));
  await assert.rejects(loadEmbeddingFile(settings(dup), keys), isBad(/rows 2 and 3 both hold item 2/, 'item_id'));
  const ragged = path.join(dir, 'ragged.parquet');
  await writeParquet(ragged, new arrow.Table({ item_id: arrow.makeVector(Int32Array.from(order)), embedding: arrow.vectorFromArray([[1, 2, 3], [1, 2, 3], [1, 2], [1, 2, 3]], listType(new arrow.Float32())) }));
  await assert.rejects(loadEmbeddingFile(settings(ragged), keys), isBad(/row 2 \(id 3\) has 2 dimensions, row 0 has 3/));
  const nan = path.join(dir, 'nan.parquet');
  await writeParquet(nan, new arrow.Table({ item_id: arrow.makeVector(Int32Array.from(order)), embedding: arrow.vectorFromArray([[1, 2, 3], [1, Number.NaN, 3], [1, 2, 3], [1, 2, 3]], listType(new arrow.Float32())) }));
  await assert.rejects(loadEmbeddingFile(settings(nan), keys), isBad(/row 1 \(id 0\), column 1 is NaN/, 'row 1'));
});

test('item_embeddings.safetensors: written with metadata, read back with validation', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, EMBEDDINGS_FILE);
  const embeddings = Float32Array.from(matrix);
  await writeItemEmbeddings(file, { embeddings, count: N, dim: D, encoder: { name: 'file', source: 'x.npy' } });
  const back = await readItemEmbeddings(file, { count: N, dim: D });
  assert.deepEqual([...back.embeddings], [...embeddings]);
  assert.deepEqual(back.encoder, { name: 'file', source: 'x.npy' });
  await assert.rejects(readItemEmbeddings(file, { count: 5 }), isBad(/4 embedding rows for 5 items/));
  await assert.rejects(readItemEmbeddings(file, { dim: 768 }), isBad(/3 dimensions, expected 768/));
  const other = path.join(dir, 'other.safetensors');
  await writeSafetensors(other, { embeddings: { shape: [N, D], data: embeddings } });
  await assert.rejects(readItemEmbeddings(other), isBad(/not an item embeddings file/));
  await assert.rejects(writeItemEmbeddings(file, { embeddings: new Float32Array(5), count: 2, dim: 3, encoder: {} }), RangeError);
});

test('embedItems: items.parquet -> item_embeddings.safetensors with either encoder', async (t) => {
  const dir = await tempDir(t);
  const titles = ['Red nail polish.', 'Pink nail polish.', 'Coconut body oil.', 'Argan body oil.'];
  const utf8 = (v: (string | null)[]) => arrow.vectorFromArray(v, new arrow.Utf8());
  const itemsPath = path.join(dir, 'items.parquet');
  await writeParquet(itemsPath, new arrow.Table({
    item_id: arrow.makeVector(Int32Array.from([0, 1, 2, 3])),
    source_id: utf8(['10', '11', '12', '13']),
    asin: utf8(['A0', 'A1', null, 'A3']),
    title: utf8(titles),
    description: utf8(['', '', '', '']),
    brand: utf8(['', '', '', '']),
    categories: utf8(['Nails', 'Nails', 'Body', 'Body']),
    price: arrow.vectorFromArray([1, null, 2, 3], new arrow.Float64()),
  }));
  const out = path.join(dir, 'out');
  const summary = await embedItems({ itemsPath, outDir: out, seed: 1, settings: { ...DEFAULT_EMBED_SETTINGS, tfidf: { ...DEFAULT_EMBED_SETTINGS.tfidf, dim: 64, minDf: 1 } } });
  assert.equal(summary.encoder, 'tfidf');
  assert.deepEqual([summary.items, summary.dim, summary.emptyItems], [4, 64, 0]);
  const tfidf = await readItemEmbeddings(path.join(out, EMBEDDINGS_FILE), { count: 4 });
  assert.equal((tfidf.encoder as { name: string }).name, 'tfidf');

  const npy = path.join(dir, 'user.npy');
  await writeFile(npy, encodeNpy(Float32Array.from(matrix), [N, D]));
  const out2 = path.join(dir, 'out2');
  const s2 = await embedItems({ itemsPath, outDir: out2, seed: 1, settings: { ...DEFAULT_EMBED_SETTINGS, encoder: 'file', file: { ...DEFAULT_EMBED_SETTINGS.file, path: npy } } });
  assert.deepEqual([s2.encoder, s2.dim, s2.sourceFormat], ['file', D, 'npy']);
  assert.deepEqual([...(await readItemEmbeddings(path.join(out2, EMBEDDINGS_FILE))).embeddings], [...Float32Array.from(matrix)]);
  await assert.rejects(embedItems({ itemsPath, outDir: out2, seed: 1, settings: { ...DEFAULT_EMBED_SETTINGS, encoder: 'file' } }), isBad(/needs embed\.file\.path/));
});
