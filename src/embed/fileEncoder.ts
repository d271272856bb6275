/**
 * The `file` encoder: embeddings computed elsewhere (sentence-T5, LLaMA, ... in Python), checked
 * against the items and put in item-id order.
 *
 * Formats (by extension):
 * - `.npy`: a 2-D float16/float32/float64 C-order matrix, one row per item (npy.ts);
 * - `.safetensors`: one 2-D F32/F16/BF16/F64 tensor (`tensor` names it when the file holds more);
 *   a 1-D integer tensor named `idColumn` (default `item_id`) in the same file, when present, gives
 *   each row's item id;
 * - `.parquet`: an `idColumn` (default `item_id`) plus either a list<float> `embeddingColumn`
 *   (default `embedding`; genrec's item_emb.parquet is `idColumn: 'ItemID'`) or, when the file has
 *   no such column, one float column per dimension (every float column except the id, in file order).
 *
 * Row order. Parquet rows are placed by their id. For npy/safetensors the row count must equal the
 * number of items; without ids row r is item r, with ids (`idsPath`: .npy integers, .json array, or
 * text with one id per line; or the safetensors id tensor) rows are placed by id. Ids must cover
 * every item exactly once. Integer ids (and text lines of digits) are item_ids; string ids are
 * matched against the items' source_id, else their asin.
 *
 * Every problem is a BadInputError naming the file and the field or row: unknown extension,
 * unsupported dtype, wrong rank, row count or dimension, NaN/Inf (first bad row), unknown,
 * duplicate or missing ids.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import * as arrow from 'apache-arrow';
import { BadInputError } from '../errors.js';
import { readParquet } from '../tables/parquet.js';
import { SafetensorsFile, halfToFloat } from '../tensor/safetensors.js';
import type { TensorEntry } from '../tensor/safetensors.js';
import { readNpyIntegers, readNpyMatrix } from './npy.js';

export interface FileEncoderSettings {
  /** The embeddings file: .npy, .safetensors or .parquet. */
  path: string;
  /** safetensors: the tensor to use; null = the only 2-D tensor. */
  tensor: string | null;
  /** Parquet: the id column; safetensors: an optional 1-D integer tensor of row ids. */
  idColumn: string;
  /** Parquet: the list<float> column; absent from the file = one float column per dimension. */
  embeddingColumn: string;
  /** npy/safetensors: optional file of row ids (.npy integers, .json array, text lines). */
  idsPath: string | null;
  /** Expected dimension; null accepts the file's. */
  dim: number | null;
}

export const DEFAULT_FILE_ENCODER_SETTINGS: Omit<FileEncoderSettings, 'path'> = {
  tensor: null,
  idColumn: 'item_id',
  embeddingColumn: 'embedding',
  idsPath: null,
  dim: null,
};

/** What rows are checked against: the items of items.parquet. */
export interface ItemKeys {
  count: number;
  /** source_id per item_id (string ids are looked up here first). */
  sourceIds?: readonly string[];
  /** asin per item_id (then here). */
  asins?: readonly (string | null)[];
}

export interface FileEmbeddings {
  /** count x dim float32, row = item id. */
  embeddings: Float32Array;
  count: number;
  dim: number;
  format: 'npy' | 'safetensors' | 'parquet';
  /** The dtype as stored in the file. */
  dtype: string;
  /** Whether rows were placed by ids (and so checked against them). */
  idsChecked: boolean;
  encoder: Record<string, unknown>;
}

type Id = number | string;

export async function loadEmbeddingFile(settings: FileEncoderSettings, items: ItemKeys): Promise<FileEmbeddings> {
  const file = settings.path;
  const ext = extname(file).toLowerCase();
  await mustBeFile(file, 'embed.file.path');
  if (settings.idsPath !== null) await mustBeFile(settings.idsPath, 'embed.file.idsPath');
  let loaded: { rows: number; cols: number; data: Float32Array; dtype: string; ids: Id[] | undefined; idsFile: string; byId: boolean };
  let format: FileEmbeddings['format'];
  if (ext === '.npy') {
    format = 'npy';
    const m = await readNpyMatrix(file);
    loaded = { ...m, ids: await readIdsFile(settings.idsPath), idsFile: settings.idsPath ?? file, byId: false };
  } else if (ext === '.safetensors') {
    format = 'safetensors';
    const m = await readSafetensorsMatrix(file, settings);
    const ids = m.ids ?? (await readIdsFile(settings.idsPath));
    loaded = { ...m, ids, idsFile: m.ids ? file : (settings.idsPath ?? file), byId: false };
  } else if (ext === '.parquet' || ext === '.pq') {
    format = 'parquet';
    loaded = { ...(await readParquetMatrix(file, settings)), idsFile: file, byId: true };
  } else {
    throw new BadInputError(`unknown embeddings file type '${ext}': use .npy, .safetensors or .parquet`, { file, field: 'embed.file.path' });
  }

  const { rows, cols, data, dtype, ids } = loaded;
  if (settings.dim !== null && cols !== settings.dim) {
    throw new BadInputError(`embeddings have ${cols} dimensions, the settings expect ${settings.dim}`, { file, field: 'dim' });
  }
  if (cols === 0) throw new BadInputError('embeddings have 0 dimensions', { file, field: 'dim' });
  if (rows !== items.count) {
    throw new BadInputError(`${rows} embedding rows for ${items.count} items: there must be exactly one row per item`, {
      file,
      field: loaded.byId ? settings.idColumn : 'shape',
    });
  }
  if (ids !== undefined && ids.length !== rows) {
    throw new BadInputError(`${ids.length} ids for ${rows} embedding rows`, { file: loaded.idsFile, field: 'ids' });
  }
  checkFinite(data, cols, file, ids);

  let embeddings = data;
  if (ids !== undefined) {
    const itemOfRow = resolveIds(ids, items, loaded.idsFile, loaded.byId ? settings.idColumn : 'ids');
    embeddings = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) embeddings.set(data.subarray(r * cols, (r + 1) * cols), (itemOfRow[r] as number) * cols);
  }
  return {
    embeddings,
    count: rows,
    dim: cols,
    format,
    dtype,
    idsChecked: ids !== undefined,
    encoder: { name: 'file', format, dtype, source: file, idsChecked: ids !== undefined },
  };
}

async function mustBeFile(path: string, field: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new BadInputError('no such file', { file: path, field });
  if (!info.isFile()) throw new BadInputError('not a file', { file: path, field });
}

/** NaN/Inf anywhere: the first bad row (and its id, when known) is named. */
function checkFinite(data: Float32Array, cols: number, file: string, ids: Id[] | undefined): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (v - v !== 0) {
      const row = Math.floor(i / cols);
      const id = ids?.[row] !== undefined ? ` (id ${JSON.stringify(ids[row])})` : '';
      throw new BadInputError(`row ${row}${id}, column ${i % cols} is ${v}; embeddings must be finite`, { file, field: `row ${row}` });
    }
  }
}

/** Item id of each row; every item exactly once. */
function resolveIds(ids: Id[], items: ItemKeys, file: string, field: string): Int32Array {
  const bySource = new Map<string, number>();
  const byAsin = new Map<string, number>();
  items.sourceIds?.forEach((s, i) => bySource.set(s, i));
  items.asins?.forEach((s, i) => s !== null && byAsin.set(s, i));
  const rowOfItem = new Int32Array(items.count).fill(-1);
  const itemOfRow = new Int32Array(ids.length);
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r] as Id;
    const item = typeof id === 'number' ? (Number.isInteger(id) && id >= 0 && id < items.count ? id : undefined) : (bySource.get(id) ?? byAsin.get(id));
    if (item === undefined) {
      const what = typeof id === 'number' ? `item_id ${id} is not an item (ids are 0..${items.count - 1})` : `id ${JSON.stringify(id)} is neither a source_id nor an asin of the items`;
      throw new BadInputError(`row ${r}: ${what}`, { file, field });
    }
    const other = rowOfItem[item] as number;
    if (other >= 0) throw new BadInputError(`rows ${other} and ${r} both hold item ${JSON.stringify(id)}`, { file, field });
    rowOfItem[item] = r;
    itemOfRow[r] = item;
  }
  return itemOfRow;
}

async function readIdsFile(path: string | null): Promise<Id[] | undefined> {
  if (path === null) return undefined;
  const ext = extname(path).toLowerCase();
  if (ext === '.npy') return readNpyIntegers(path);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new BadInputError('cannot read the ids file', { file: path, field: 'embed.file.idsPath' });
  }
  if (ext === '.json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new BadInputError(`not JSON (${(error as Error).message})`, { file: path });
    }
    if (!Array.isArray(value)) throw new BadInputError('expected a JSON array of ids', { file: path });
    return value.map((v, i) => {
      if ((typeof v === 'number' && Number.isInteger(v)) || typeof v === 'string') return v as Id;
      throw new BadInputError(`id ${JSON.stringify(v)} is neither an integer nor a string`, { file: path, line: i + 1 });
    });
  }
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines.map((line) => {
    const s = line.trim();
    return /^\d+$/.test(s) ? Number(s) : s;
  });
}

async function readSafetensorsMatrix(
  file: string,
  settings: FileEncoderSettings,
): Promise<{ rows: number; cols: number; data: Float32Array; dtype: string; ids: Id[] | undefined }> {
  const st = await SafetensorsFile.open(file);
  try {
    let name = settings.tensor;
    if (name === null) {
      const matrices = st.names().filter((n) => st.entry(n)?.shape.length === 2);
      if (matrices.length !== 1) {
        throw new BadInputError(
          `${matrices.length === 0 ? 'no 2-D tensor' : `several 2-D tensors (${matrices.join(', ')})`}: name the one to use in embed.file.tensor`,
          { file, field: 'tensor' },
        );
      }
      name = matrices[0] as string;
    }
    const entry = st.entry(name);
    if (!entry) throw new BadInputError(`no tensor named '${name}' (the file has ${st.names().join(', ') || 'none'})`, { file, field: 'tensor' });
    if (entry.shape.length !== 2) throw new BadInputError(`tensor '${name}' has shape [${entry.shape}], expected 2-D (items x dim)`, { file, field: name });
    const [rows, cols] = entry.shape as [number, number];
    let data: Float32Array;
    if (entry.dtype === 'F64') data = await readF64(st, entry, file);
    else if (['F32', 'F16', 'BF16'].includes(entry.dtype)) data = (await st.read(name)).data as Float32Array;
    else throw new BadInputError(`tensor '${name}' has dtype ${entry.dtype}: embeddings must be F32, F16, BF16 or F64`, { file, field: name });

    let ids: Id[] | undefined;
    const idEntry = st.entry(settings.idColumn);
    if (idEntry && settings.idColumn !== name) {
      if (idEntry.shape.length !== 1 || !['I32', 'I64'].includes(idEntry.dtype)) {
        throw new BadInputError(`id tensor '${settings.idColumn}' must be 1-D I32 or I64, found ${idEntry.dtype} [${idEntry.shape}]`, { file, field: settings.idColumn });
      }
      ids = Array.from((await st.read(settings.idColumn)).data as Int32Array);
    }
    return { rows, cols, data, dtype: entry.dtype, ids };
  } finally {
    await st.close();
  }
}

/** F64 is not among what SafetensorsFile widens; read its bytes and narrow to float32 here. */
async function readF64(st: SafetensorsFile, entry: TensorEntry, file: string): Promise<Float32Array> {
  const handle = await open(file, 'r');
  try {
    const n = (entry.end - entry.begin) / 8;
    const bytes = Buffer.alloc(entry.end - entry.begin);
    let done = 0;
    while (done < bytes.length) {
      const { bytesRead } = await handle.read(bytes, done, bytes.length - done, st.header.dataStart + entry.begin + done);
      if (bytesRead === 0) throw new BadInputError(`tensor '${entry.name}' is truncated`, { file });
      done += bytesRead;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const out = new Float32Array(n);
    const cols = entry.shape[1] as number;
    for (let i = 0; i < n; i++) {
      const v = view.getFloat64(i * 8, true);
      const f = Math.fround(v);
      if (Number.isFinite(v) && !Number.isFinite(f)) {
        const row = Math.floor(i / cols);
        throw new BadInputError(`row ${row}, column ${i % cols}: ${v} is outside the float32 range`, { file, field: `row ${row}` });
      }
      out[i] = f;
    }
    return out;
  } finally {
    await handle.close();
  }
}

async function readParquetMatrix(
  file: string,
  settings: FileEncoderSettings,
): Promise<{ rows: number; cols: number; data: Float32Array; dtype: string; ids: Id[] }> {
  const table = await readParquet(file);
  const idField = table.schema.fields.find((f) => f.name === settings.idColumn);
  if (!idField) throw new BadInputError(`no id column '${settings.idColumn}' (set embed.file.idColumn)`, { file, field: settings.idColumn });
  const idVector = table.getChild(settings.idColumn) as arrow.Vector;
  const isInt = arrow.DataType.isInt(idField.type);
  if (!isInt && !arrow.DataType.isUtf8(idField.type)) {
    throw new BadInputError(`id column must hold integers or strings, found ${idField.type}`, { file, field: settings.idColumn });
  }
  const rows = table.numRows;
  const ids: Id[] = new Array(rows);
  for (let r = 0; r < rows; r++) {
    const v = idVector.get(r) as number | bigint | string | null;
    if (v === null) throw new BadInputError(`row ${r}: the id is null`, { file, field: settings.idColumn });
    ids[r] = typeof v === 'bigint' ? Number(v) : v;
  }

  const listField = table.schema.fields.find((f) => f.name === settings.embeddingColumn);
  if (listField) {
    const type = listField.type;
    const child = arrow.DataType.isList(type) || arrow.DataType.isFixedSizeList(type) ? (type.children[0]?.type as arrow.DataType) : undefined;
    if (!child || !arrow.DataType.isFloat(child)) {
      throw new BadInputError(`column must be a list of floats, found ${type}`, { file, field: settings.embeddingColumn });
    }
    const vector = table.getChild(settings.embeddingColumn) as arrow.Vector;
    const half = (child as arrow.Float).precision === arrow.Precision.HALF;
    let cols = -1;
    let data = new Float32Array(0);
    for (let r = 0; r < rows; r++) {
      const row = vector.get(r) as arrow.Vector | null;
      if (row === null) throw new BadInputError(`row ${r} (id ${JSON.stringify(ids[r])}): the embedding is null`, { file, field: settings.embeddingColumn });
      if (cols < 0) {
        cols = row.length;
        data = new Float32Array(rows * cols);
      } else if (row.length !== cols) {
        throw new BadInputError(`row ${r} (id ${JSON.stringify(ids[r])}) has ${row.length} dimensions, row 0 has ${cols}`, { file, field: settings.embeddingColumn });
      }
      if (row.nullCount > 0) throw new BadInputError(`row ${r} (id ${JSON.stringify(ids[r])}): the embedding holds nulls`, { file, field: settings.embeddingColumn });
      const values = row.toArray() as Float32Array | Float64Array | Uint16Array;
      for (let j = 0; j < cols; j++) data[r * cols + j] = half ? halfToFloat(values[j] as number) : (values[j] as number);
    }
    return { rows, cols: Math.max(cols, 0), data, dtype: String(type), ids };
  }

  const dims = table.schema.fields.filter((f) => f.name !== settings.idColumn && arrow.DataType.isFloat(f.type));
  if (dims.length === 0) {
    throw new BadInputError(`no '${settings.embeddingColumn}' list column and no float columns (one per dimension)`, { file, field: settings.embeddingColumn });
  }
  const cols = dims.length;
  const data = new Float32Array(rows * cols);
  dims.forEach((field, j) => {
    const vector = table.getChild(field.name) as arrow.Vector;
    for (let r = 0; r < rows; r++) {
      const v = vector.get(r) as number | null; // Float16 columns decode to numbers here
      if (v === null) throw new BadInputError(`row ${r} (id ${JSON.stringify(ids[r])}): null value`, { file, field: field.name });
      data[r * cols + j] = v;
    }
  });
  return { rows, cols, data, dtype: [...new Set(dims.map((f) => String(f.type)))].join('/'), ids };
}
