/**
 * The safetensors format (huggingface/safetensors), without any tf dependency:
 *   [u64 little-endian N][N bytes of JSON header, space-padded to a multiple of 8][data]
 * The header maps each tensor name to {"dtype","shape","data_offsets":[begin,end]} (offsets into
 * the data section) plus an optional "__metadata__" map of strings.
 *
 * Reading widens what tfjs cannot hold (it has only float32/int32/bool): F16 and BF16 become
 * Float32Array, I64 becomes Int32Array when every value fits. Files are read one tensor at a time,
 * so a 7 GB checkpoint never sits in memory whole. Sharded checkpoints: checkpoint.ts.
 * Writing supports F32 and I32 with byte-for-byte deterministic output, laid out exactly as the
 * reference Rust writer (safetensors 0.8) does: tensors ordered by dtype (F32 before I32) then by
 * name, header keys in that order after "__metadata__" (whose keys we sort; Rust's order is a
 * HashMap's), each entry {"dtype","shape","data_offsets"}, space padding to a multiple of 8. So the
 * same tensors give the same bytes here and in Python.
 */
import { endianness } from 'node:os';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BadInputError } from '../errors.js';

/** Host-side tensor: what reading returns; `toTensor` (hostTensor.ts) makes a tf tensor of it. */
export interface HostTensor {
  dtype: 'float32' | 'int32' | 'bool' | 'uint8';
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

/** What writing accepts: F32 from Float32Array, I32 from Int32Array. */
export interface WritableTensor {
  shape: readonly number[];
  data: Float32Array | Int32Array;
}

export type TensorMap = ReadonlyMap<string, WritableTensor> | Readonly<Record<string, WritableTensor>>;

export interface TensorEntry {
  name: string;
  /** The dtype as stored in the file (F32, BF16, ...). */
  dtype: string;
  shape: number[];
  /** Offsets into the data section, as in the header. */
  begin: number;
  end: number;
}

export interface ParsedHeader {
  /** Byte where the data section starts: 8 + header length. */
  dataStart: number;
  metadata: Record<string, string>;
  tensors: Map<string, TensorEntry>;
}

/** Bytes per element of every dtype the format defines, so any valid file can be validated. */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};
const READABLE = ['F32', 'F16', 'BF16', 'I32', 'I64', 'BOOL', 'U8'];
/** The Rust reader refuses headers above 100 MB; so do we, before allocating them. */
const MAX_HEADER_BYTES = 100_000_000;

if (endianness() !== 'LE') throw new Error('safetensors.ts assumes a little-endian host (typed arrays view file bytes directly)');

// ---------------------------------------------------------------------------------------------
// Header

/** Parses and validates the JSON header; `dataBytes` is the size of the data section. */
export function parseHeader(json: Uint8Array, dataBytes: number, file: string): ParsedHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (error) {
    throw new BadInputError(`not a safetensors file: the header is not UTF-8 JSON (${(error as Error).message})`, { file });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new BadInputError('not a safetensors file: the header is not a JSON object', { file });
  }
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorEntry>();
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadInputError('__metadata__ must be a map of strings', { file });
      for (const [key, text] of Object.entries(value)) {
        if (typeof text !== 'string') throw new BadInputError(`__metadata__ '${key}' must be a string, got ${JSON.stringify(text)}`, { file });
        metadata[key] = text;
      }
      continue;
    }
    tensors.set(name, parseEntry(name, value, file));
  }

  // Like the Rust reader: the tensors tile the data section exactly, in offset order.
  const ordered = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: string | undefined;
  for (const t of ordered) {
    if (t.begin < cursor) throw new BadInputError(`tensor '${t.name}' data_offsets [${t.begin}, ${t.end}] overlap tensor '${previous}'`, { file });
    if (t.begin > cursor) throw new BadInputError(`${t.begin - cursor} unused bytes before tensor '${t.name}' (data_offsets begin at ${t.begin})`, { file });
    if (t.end > dataBytes) throw new BadInputError(`tensor '${t.name}' data_offsets end at ${t.end}, past the ${dataBytes} data bytes of the file`, { file });
    cursor = t.end;
    previous = t.name;
  }
  if (cursor !== dataBytes) throw new BadInputError(`${dataBytes - cursor} bytes after the last tensor: the header does not describe the whole file`, { file });
  return { dataStart: 8 + json.length, metadata, tensors };
}

function parseEntry(name: string, value: unknown, file: string): TensorEntry {
  const fail = (why: string): never => {
    throw new BadInputError(`tensor '${name}': ${why}`, { file });
  };
  if (typeof value !== 'object' || value === null) return fail('header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string') return fail('dtype is missing');
  const itemBytes = DTYPE_BYTES[dtype];
  if (itemBytes === undefined) return fail(`unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every(isCount)) return fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) return fail(`data_offsets ${JSON.stringify(offsets)} are not [begin, end]`);
  const [begin, end] = offsets as [number, number];
  if (end < begin) return fail(`data_offsets [${begin}, ${end}] end before they begin`);
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  if (elements * itemBytes !== end - begin) {
    return fail(`shape [${shape}] of ${dtype} needs ${elements * itemBytes} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** The header length from the 8-byte prefix, checked against the file size. */
function headerLength(prefix: Uint8Array, fileBytes: number, file: string): number {
  if (fileBytes < 8) throw new BadInputError(`not a safetensors file: ${fileBytes} bytes, shorter than the 8-byte header length`, { file });
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER_BYTES, fileBytes - 8))) {
    throw new BadInputError(`not a safetensors file: header length ${n} exceeds the ${fileBytes}-byte file (or the 100 MB limit)`, { file });
  }
  return Number(n);
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Decodes one tensor's bytes; `bytes` may sit at any offset (it is copied when misaligned). */
export function decodeTensor(entry: TensorEntry, bytes: Uint8Array, file: string): HostTensor {
  const shape = [...entry.shape];
  const n = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== entry.end - entry.begin) throw new RangeError(`decodeTensor: ${bytes.length} bytes for '${entry.name}', expected ${entry.end - entry.begin}`);
  const src = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice(); // typed-array views need aligned offsets
  const { buffer, byteOffset } = src;
  switch (entry.dtype) {
    case 'F32':
      return { dtype: 'float32', shape, data: new Float32Array(buffer, byteOffset, n) };
    case 'I32':
      return { dtype: 'int32', shape, data: new Int32Array(buffer, byteOffset, n) };
    case 'BF16': {
      // bf16 is the high half of a float32: shift it back into place.
      const half = new Uint16Array(buffer, byteOffset, n);
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = (half[i] as number) << 16;
      return { dtype: 'float32', shape, data: new Float32Array(bits.buffer) };
    }
    case 'F16': {
      const half = new Uint16Array(buffer, byteOffset, n);
      const table = halfTable();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[half[i] as number] as number;
      return { dtype: 'float32', shape, data: out };
    }
    case 'I64': {
      // Read as pairs of int32 (low, high): a value fits int32 exactly when high is low's sign.
      const words = new Int32Array(buffer, byteOffset, 2 * n);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const low = words[2 * i] as number;
        if ((words[2 * i + 1] as number) !== low >> 31) {
          const value = new DataView(buffer, byteOffset + 8 * i, 8).getBigInt64(0, true);
          throw new BadInputError(`tensor '${entry.name}': I64 value ${value} at index ${i} does not fit in int32`, { file });
        }
        out[i] = low;
      }
      return { dtype: 'int32', shape, data: out };
    }
    case 'BOOL':
      return { dtype: 'bool', shape, data: new Uint8Array(buffer, byteOffset, n) };
    case 'U8':
      return { dtype: 'uint8', shape, data: new Uint8Array(buffer, byteOffset, n) };
    default:
      throw unsupportedDtype(entry, file);
  }
}

function unsupportedDtype(entry: TensorEntry, file: string): BadInputError {
  return new BadInputError(`tensor '${entry.name}' has dtype ${entry.dtype}, which lcrec cannot load (supported: ${READABLE.join(', ')})`, { file });
}

let halfLookup: Float32Array | undefined;

/** All 65536 half-precision values as float32 (256 KiB, built once). */
function halfTable(): Float32Array {
  if (halfLookup) return halfLookup;
  halfLookup = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) halfLookup[h] = halfToFloat(h);
  return halfLookup;
}

/** IEEE 754 binary16 -> number, including subnormals, infinities and NaN. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Every tensor of an in-memory safetensors file (small files, fixtures). */
export function decodeSafetensors(bytes: Uint8Array, file = '<memory>'): { metadata: Record<string, string>; tensors: Map<string, HostTensor> } {
  const n = headerLength(bytes.subarray(0, 8), bytes.length, file);
  const header = parseHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n, file);
  const tensors = new Map<string, HostTensor>();
  for (const name of [...header.tensors.keys()].sort()) {
    const entry = header.tensors.get(name) as TensorEntry;
    // A copy per tensor, so the results do not keep (or alias) the whole input buffer.
    tensors.set(name, decodeTensor(entry, bytes.slice(header.dataStart + entry.begin, header.dataStart + entry.end), file));
  }
  return { metadata: header.metadata, tensors };
}

// ---------------------------------------------------------------------------------------------
// Reading files

/** Anything tensors can be read from by name: one file or a sharded checkpoint. */
export interface TensorSource {
  /** The file or index path. */
  readonly path: string;
  /** Sorted tensor names. */
  names(): string[];
  has(name: string): boolean;
  read(name: string): Promise<HostTensor>;
  close(): Promise<void>;
}

/** One .safetensors file: the header at open, each tensor's bytes when read. */
export class SafetensorsFile implements TensorSource {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly header: ParsedHeader,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    const handle = await open(path, 'r');
    try {
      const size = (await handle.stat()).size;
      const prefix = new Uint8Array(8);
      await readFully(handle, prefix, 0);
      const n = headerLength(prefix, size, path);
      const json = new Uint8Array(n);
      await readFully(handle, json, 8);
      return new SafetensorsFile(path, handle, parseHeader(json, size - 8 - n, path));
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  names(): string[] {
    return [...this.header.tensors.keys()].sort();
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  entry(name: string): TensorEntry | undefined {
    return this.header.tensors.get(name);
  }

  async read(name: string): Promise<HostTensor> {
    const entry = this.header.tensors.get(name);
    if (!entry) throw new BadInputError(`no tensor named '${name}'`, { file: this.path });
    if (!READABLE.includes(entry.dtype)) throw unsupportedDtype(entry, this.path); // before reading its bytes
    const bytes = new Uint8Array(entry.end - entry.begin); // a fresh buffer: aligned, viewable in place
    await readFully(this.handle, bytes, this.header.dataStart + entry.begin);
    return decodeTensor(entry, bytes, this.path);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

async function readFully(handle: FileHandle, into: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

interface Planned {
  name: string;
  dtype: 'F32' | 'I32';
  shape: number[];
  bytes: Uint8Array;
}

function plan(tensors: TensorMap): Planned[] {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, WritableTensor>);
  return entries
    .map(([name, t]): Planned => {
      if (name === '' || name === '__metadata__') throw new RangeError(`safetensors: invalid tensor name ${JSON.stringify(name)}`);
      const dtype = t.data instanceof Float32Array ? 'F32' : t.data instanceof Int32Array ? 'I32' : undefined;
      if (!dtype) throw new TypeError(`safetensors: tensor '${name}' must be a Float32Array or Int32Array`);
      const shape = [...t.shape];
      const elements = shape.reduce((a, b) => a * b, 1);
      if (!shape.every(isCount) || elements !== t.data.length) {
        throw new RangeError(`safetensors: tensor '${name}' has shape [${shape}] but ${t.data.length} values`);
      }
      return { name, dtype, shape, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The Rust writer's data order: dtype descending in its enum (where F32 follows I32, so F32 comes first), then name. */
function fileOrder(planned: Planned[]): Planned[] {
  const rank = (t: Planned): number => (t.dtype === 'F32' ? 0 : 1);
  return [...planned].sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The 8-byte length plus the padded header for tensors laid out in the given order. */
function encodeHeader(planned: Planned[], metadata: Record<string, string> | undefined): Uint8Array {
  const header: Record<string, unknown> = {};
  const metaKeys = Object.keys(metadata ?? {}).sort();
  if (metadata && metaKeys.length > 0) {
    const sorted: Record<string, string> = {};
    for (const key of metaKeys) {
      const value = metadata[key];
      if (typeof value !== 'string') throw new TypeError(`safetensors: metadata '${key}' must be a string`);
      sorted[key] = value;
    }
    header['__metadata__'] = sorted;
  }
  let offset = 0;
  for (const t of planned) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8; // as the Rust writer: pad with spaces to 8 bytes
  const out = new Uint8Array(8 + padded).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

/** A whole safetensors file in memory. */
export function encodeSafetensors(tensors: TensorMap, metadata?: Record<string, string>): Uint8Array {
  const planned = fileOrder(plan(tensors));
  const head = encodeHeader(planned, metadata);
  const out = new Uint8Array(head.length + planned.reduce((a, t) => a + t.bytes.length, 0));
  out.set(head, 0);
  let at = head.length;
  for (const t of planned) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}

/** Validates tensors for writing and returns them sorted by name (checkpoint.ts shards in this order). */
export function writableEntries(tensors: TensorMap): Array<[string, WritableTensor]> {
  const byName = new Map(tensors instanceof Map ? tensors : Object.entries(tensors as Record<string, WritableTensor>));
  return plan(tensors).map((t) => [t.name, byName.get(t.name) as WritableTensor]);
}

/** Writes one file atomically (a temporary file renamed into place), tensor by tensor. */
export async function writeSafetensors(path: string, tensors: TensorMap, metadata?: Record<string, string>): Promise<void> {
  await writePlanned(path, plan(tensors), metadata);
}

async function writePlanned(path: string, tensors: Planned[], metadata: Record<string, string> | undefined): Promise<void> {
  const planned = fileOrder(tensors);
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.tmp-${process.pid}-${tempCounter++}`;
  const handle = await open(temp, 'w');
  try {
    await handle.write(encodeHeader(planned, metadata));
    for (const t of planned) if (t.bytes.length > 0) await handle.write(t.bytes);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, path);
}
let tempCounter = 0;
