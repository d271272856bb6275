/**
 * Batched, resumable embedding: rows [0, count) are encoded chunk by chunk; each finished chunk is
 * written to `workDir` as `chunk-<index>.safetensors` (atomically) before the next one starts. A
 * later call with the same `fingerprint` reuses every valid chunk file it finds there and computes
 * only the missing ones, so an interrupted job resumes from its last finished chunk. A chunk file
 * whose fingerprint, range or shape differ (other settings, other items, a half-copied file) is
 * recomputed, never trusted.
 *
 * Any encoder can use this (tfidf here; the hf encoder of the LLM issue later). The caller decides
 * where `workDir` lives and may keep the chunk files elsewhere (`onChunk`, e.g. to copy them to the
 * artifact store so that a retried attempt on another worker can restore them into `workDir`).
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../tensor/safetensors.js';
import type { ProgressSink } from '../data/itemText.js';

export const CHUNK_TENSOR = 'embeddings';

export interface ChunkedEncodeOptions {
  count: number;
  dim: number;
  chunkSize: number;
  /** Identifies the exact computation (code version, settings, inputs); stored in every chunk. */
  fingerprint: string;
  /** Rows [start, end) as a row-major (end - start) x dim Float32Array. */
  encodeChunk: (start: number, end: number) => Float32Array | Promise<Float32Array>;
  /** Where chunk files are kept; without it nothing is written and nothing can resume. */
  workDir?: string;
  /** Called after each chunk file is written (path, chunk index). */
  onChunk?: (file: string, index: number) => void | Promise<void>;
  onProgress?: ProgressSink;
  signal?: AbortSignal;
}

export interface ChunkedEncodeResult {
  /** count x dim, row-major. */
  embeddings: Float32Array;
  chunks: number;
  /** Chunks taken from files of an earlier, interrupted call. */
  resumedChunks: number;
}

export function chunkFileName(index: number): string {
  return `chunk-${String(index).padStart(6, '0')}.safetensors`;
}

export async function encodeInChunks(opts: ChunkedEncodeOptions): Promise<ChunkedEncodeResult> {
  const { count, dim, chunkSize, fingerprint, workDir } = opts;
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`encodeInChunks: count must be an integer >= 0, got ${count}`);
  if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`encodeInChunks: dim must be an integer > 0, got ${dim}`);
  if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new RangeError(`encodeInChunks: chunkSize must be an integer > 0, got ${chunkSize}`);
  const chunks = Math.ceil(count / chunkSize);
  const embeddings = new Float32Array(count * dim);
  const existing = new Set<string>();
  if (workDir !== undefined) {
    await mkdir(workDir, { recursive: true });
    for (const name of await readdir(workDir)) existing.add(name);
  }

  let resumedChunks = 0;
  for (let index = 0; index < chunks; index++) {
    opts.signal?.throwIfAborted();
    const start = index * chunkSize;
    const end = Math.min(count, start + chunkSize);
    const name = chunkFileName(index);
    const file = workDir === undefined ? undefined : join(workDir, name);
    const kept = file !== undefined && existing.has(name) ? await readChunk(file, fingerprint, start, end, dim) : undefined;
    if (kept) {
      embeddings.set(kept, start * dim);
      resumedChunks++;
    } else {
      const rows = await opts.encodeChunk(start, end);
      if (rows.length !== (end - start) * dim) {
        throw new RangeError(`encodeInChunks: chunk ${index} has ${rows.length} values, expected ${(end - start) * dim}`);
      }
      embeddings.set(rows, start * dim);
      if (file !== undefined) {
        await writeSafetensors(file, { [CHUNK_TENSOR]: { shape: [end - start, dim], data: rows } }, {
          fingerprint,
          start: String(start),
          end: String(end),
        });
        await opts.onChunk?.(file, index);
      }
    }
    opts.onProgress?.({ phase: 'embedding', done: end, total: count });
  }
  return { embeddings, chunks, resumedChunks };
}

/** The chunk's rows when the file is complete and belongs to this computation, else undefined. */
async function readChunk(file: string, fingerprint: string, start: number, end: number, dim: number): Promise<Float32Array | undefined> {
  let st: SafetensorsFile;
  try {
    st = await SafetensorsFile.open(file);
  } catch {
    return undefined; // truncated or foreign: recompute
  }
  try {
    const meta = st.metadata;
    const entry = st.entry(CHUNK_TENSOR);
    if (meta.fingerprint !== fingerprint || meta.start !== String(start) || meta.end !== String(end)) return undefined;
    if (!entry || entry.dtype !== 'F32' || entry.shape.length !== 2 || entry.shape[0] !== end - start || entry.shape[1] !== dim) return undefined;
    const tensor = await st.read(CHUNK_TENSOR);
    const data = tensor.data as Float32Array;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i] as number)) return undefined;
    return data;
  } catch {
    return undefined;
  } finally {
    await st.close();
  }
}
