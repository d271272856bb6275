/**
 * NumPy `.npy` files, read by hand (format spec: numpy/lib/format.py):
 *   "\x93NUMPY" | major u8 | minor u8 | header length (u16 LE for v1, u32 LE for v2/v3)
 *   | header: a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }
 *     padded with spaces and a final '\n' | the array bytes.
 * Only what item embeddings need: 2-D float16/float32/float64 matrices in C order (either byte
 * order), streamed row block by row block into float32, and 1-D integer vectors (row ids).
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { BadInputError } from '../errors.js';
import { halfToFloat } from '../tensor/safetensors.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export interface NpyHeader {
  /** e.g. '<f4' */
  descr: string;
  kind: string;
  itemBytes: number;
  littleEndian: boolean;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the data. */
  dataStart: number;
}

export async function readNpyHeader(handle: FileHandle, file: string): Promise<NpyHeader> {
  const size = (await handle.stat()).size;
  const prefix = Buffer.alloc(12);
  const { bytesRead } = await handle.read(prefix, 0, 12, 0);
  if (bytesRead < 10 || MAGIC.some((b, i) => prefix[i] !== b)) throw new BadInputError('not a .npy file (no \\x93NUMPY magic)', { file });
  const major = prefix[6] as number;
  if (major < 1 || major > 3) throw new BadInputError(`unsupported .npy format version ${major}.${prefix[7]}`, { file });
  const lengthBytes = major === 1 ? 2 : 4;
  const headerLength = major === 1 ? prefix.readUInt16LE(8) : prefix.readUInt32LE(8);
  const headerStart = 8 + lengthBytes;
  if (headerStart + headerLength > size) throw new BadInputError(`.npy header of ${headerLength} bytes runs past the end of the file`, { file });
  const headerBytes = Buffer.alloc(headerLength);
  await handle.read(headerBytes, 0, headerLength, headerStart);
  const text = headerBytes.toString(major === 3 ? 'utf8' : 'latin1');

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  if (descr === undefined) {
    throw new BadInputError(`.npy header has no plain 'descr' (structured arrays are not supported): ${text.trim()}`, { file, field: 'descr' });
  }
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  if (fortran === undefined) throw new BadInputError(`.npy header has no 'fortran_order': ${text.trim()}`, { file, field: 'fortran_order' });
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (shapeText === undefined) throw new BadInputError(`.npy header has no 'shape': ${text.trim()}`, { file, field: 'shape' });
  const shape = shapeText
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s !== '')
    .map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new BadInputError(`bad .npy shape (${shapeText})`, { file, field: 'shape' });

  const match = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr);
  if (!match) throw new BadInputError(`unsupported .npy dtype '${descr}'`, { file, field: 'descr' });
  const [, order, kind, bytes] = match as unknown as [string, string, string, string];
  const itemBytes = Number(bytes);
  const dataStart = headerStart + headerLength;
  const need = shape.reduce((a, b) => a * b, 1) * itemBytes;
  if (dataStart + need > size) {
    throw new BadInputError(`.npy file is truncated: shape (${shape.join(', ')}) of '${descr}' needs ${need} data bytes, the file has ${size - dataStart}`, { file });
  }
  return { descr, kind, itemBytes, littleEndian: order !== '>', fortranOrder: fortran === 'True', shape, dataStart };
}

export interface NpyMatrix {
  rows: number;
  cols: number;
  /** rows x cols float32, row-major. */
  data: Float32Array;
  dtype: string;
}

/**
 * A 2-D float matrix as float32. Throws BadInputError for another dtype or rank, Fortran order, or
 * a value that is NaN, infinite, or outside the float32 range (naming the first bad row).
 */
export async function readNpyMatrix(file: string): Promise<NpyMatrix> {
  const handle = await open(file, 'r');
  try {
    const h = await readNpyHeader(handle, file);
    if (h.kind !== 'f' || ![2, 4, 8].includes(h.itemBytes)) {
      throw new BadInputError(`unsupported dtype '${h.descr}': embeddings must be float16, float32 or float64`, { file, field: 'descr' });
    }
    if (h.shape.length !== 2) throw new BadInputError(`expected a 2-D matrix (items x dim), found shape (${h.shape.join(', ')})`, { file, field: 'shape' });
    if (h.fortranOrder) {
      throw new BadInputError('the array is in Fortran order; save it in C order (np.ascontiguousarray) first', { file, field: 'fortran_order' });
    }
    const [rows, cols] = h.shape as [number, number];
    const data = new Float32Array(rows * cols);
    const rowBytes = cols * h.itemBytes;
    const blockRows = Math.max(1, Math.floor((8 << 20) / Math.max(1, rowBytes)));
    const buffer = Buffer.alloc(Math.min(rows, blockRows) * rowBytes);
    const read = reader(h.itemBytes, h.littleEndian);
    for (let r0 = 0; r0 < rows; r0 += blockRows) {
      const n = Math.min(blockRows, rows - r0);
      await readFully(handle, buffer, n * rowBytes, h.dataStart + r0 * rowBytes);
      const view = new DataView(buffer.buffer, buffer.byteOffset, n * rowBytes);
      for (let i = 0; i < n * cols; i++) {
        const v = read(view, i * h.itemBytes);
        const f = Math.fround(v);
        if (!Number.isFinite(f)) {
          const row = r0 + Math.floor(i / cols);
          const why = Number.isFinite(v) ? `${v} is outside the float32 range` : `${v}`;
          throw new BadInputError(`row ${row}, column ${i % cols}: ${why}; embeddings must be finite`, { file, field: `row ${row}` });
        }
        data[r0 * cols + i] = f;
      }
    }
    return { rows, cols, data, dtype: h.descr };
  } finally {
    await handle.close();
  }
}

/** A 1-D integer vector (row ids), as numbers. */
export async function readNpyIntegers(file: string): Promise<number[]> {
  const handle = await open(file, 'r');
  try {
    const h = await readNpyHeader(handle, file);
    if (!['i', 'u'].includes(h.kind) || ![1, 2, 4, 8].includes(h.itemBytes)) {
      throw new BadInputError(`unsupported dtype '${h.descr}' for item ids: expected integers`, { file, field: 'descr' });
    }
    if (h.shape.length !== 1) throw new BadInputError(`expected a 1-D vector of item ids, found shape (${h.shape.join(', ')})`, { file, field: 'shape' });
    const n = h.shape[0] as number;
    const buffer = Buffer.alloc(n * h.itemBytes);
    await readFully(handle, buffer, buffer.length, h.dataStart);
    const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.length);
    const le = h.littleEndian;
    const out: number[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const at = i * h.itemBytes;
      let v: number | bigint;
      if (h.kind === 'i') v = h.itemBytes === 1 ? view.getInt8(at) : h.itemBytes === 2 ? view.getInt16(at, le) : h.itemBytes === 4 ? view.getInt32(at, le) : view.getBigInt64(at, le);
      else v = h.itemBytes === 1 ? view.getUint8(at) : h.itemBytes === 2 ? view.getUint16(at, le) : h.itemBytes === 4 ? view.getUint32(at, le) : view.getBigUint64(at, le);
      const num = Number(v);
      if (!Number.isSafeInteger(num)) throw new BadInputError(`item id ${v} at row ${i} is too large`, { file, field: `row ${i}` });
      out[i] = num;
    }
    return out;
  } finally {
    await handle.close();
  }
}

type Read = (view: DataView, at: number) => number;

function reader(itemBytes: number, le: boolean): Read {
  if (itemBytes === 4) return (v, at) => v.getFloat32(at, le);
  if (itemBytes === 8) return (v, at) => v.getFloat64(at, le);
  const table = halfTable();
  return (v, at) => table[v.getUint16(at, le)] as number;
}

let half: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!half) {
    half = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) half[h] = halfToFloat(h);
  }
  return half;
}

async function readFully(handle: FileHandle, into: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(into, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}

/** Writes a C-order .npy (v1) file: for tests and for users who want our embeddings in Python. */
export function encodeNpy(data: Float32Array | Float64Array | Int32Array | Uint16Array, shape: readonly number[], descr?: string): Uint8Array {
  const d = descr ?? (data instanceof Float32Array ? '<f4' : data instanceof Float64Array ? '<f8' : data instanceof Int32Array ? '<i4' : '<f2');
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${d}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
