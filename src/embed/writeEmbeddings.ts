/**
 * `item_embeddings.safetensors`, the embed stage's output: one F32 tensor `embeddings` of shape
 * [items, dim], row = item_id, with string metadata
 *   format  = 'lcrec.item_embeddings/1'
 *   encoder = canonical JSON describing the encoder (name, settings, seed, source file...)
 *   dim, count = the shape, as decimal strings.
 * Same inputs, same bytes (safetensors.ts writes deterministically; the metadata is canonical).
 */
import { BadInputError } from '../errors.js';
import { SafetensorsFile, writeSafetensors } from '../tensor/safetensors.js';
import { canonicalJson } from '../util/canonical.js';

export const EMBEDDINGS_FILE = 'item_embeddings.safetensors';
export const EMBEDDINGS_TENSOR = 'embeddings';
export const EMBEDDINGS_FORMAT = 'lcrec.item_embeddings/1';

export interface ItemEmbeddings {
  /** count x dim float32, row-major, row = item_id. */
  embeddings: Float32Array;
  count: number;
  dim: number;
  encoder: Record<string, unknown>;
}

export async function writeItemEmbeddings(path: string, value: ItemEmbeddings): Promise<void> {
  const { embeddings, count, dim, encoder } = value;
  if (!Number.isInteger(count) || !Number.isInteger(dim) || count < 0 || dim <= 0 || embeddings.length !== count * dim) {
    throw new RangeError(`writeItemEmbeddings: ${embeddings.length} values do not make ${count} x ${dim}`);
  }
  for (let i = 0; i < embeddings.length; i++) {
    const v = embeddings[i] as number;
    if (v - v !== 0) throw new RangeError(`writeItemEmbeddings: row ${Math.floor(i / dim)} holds ${v}`);
  }
  await writeSafetensors(path, { [EMBEDDINGS_TENSOR]: { shape: [count, dim], data: embeddings } }, {
    format: EMBEDDINGS_FORMAT,
    encoder: canonicalJson(encoder),
    dim: String(dim),
    count: String(count),
  });
}

export interface ReadEmbeddingsExpect {
  /** The number of items (items.parquet rows). */
  count?: number;
  dim?: number;
}

/** Reads and validates the file: format, shape against metadata and expectations, finite values. */
export async function readItemEmbeddings(path: string, expect: ReadEmbeddingsExpect = {}): Promise<ItemEmbeddings> {
  const st = await SafetensorsFile.open(path);
  try {
    const meta = st.metadata;
    if (meta.format !== EMBEDDINGS_FORMAT) {
      throw new BadInputError(`not an item embeddings file (metadata format is ${JSON.stringify(meta.format)}, expected '${EMBEDDINGS_FORMAT}')`, { file: path, field: 'format' });
    }
    const entry = st.entry(EMBEDDINGS_TENSOR);
    if (!entry) throw new BadInputError(`no tensor '${EMBEDDINGS_TENSOR}'`, { file: path, field: EMBEDDINGS_TENSOR });
    if (entry.dtype !== 'F32' || entry.shape.length !== 2) {
      throw new BadInputError(`tensor '${EMBEDDINGS_TENSOR}' is ${entry.dtype} [${entry.shape}], expected F32 [items, dim]`, { file: path, field: EMBEDDINGS_TENSOR });
    }
    const [count, dim] = entry.shape as [number, number];
    if (meta.count !== String(count) || meta.dim !== String(dim)) {
      throw new BadInputError(`metadata says ${meta.count} x ${meta.dim}, the tensor is ${count} x ${dim}`, { file: path, field: 'count' });
    }
    if (expect.count !== undefined && count !== expect.count) {
      throw new BadInputError(`${count} embedding rows for ${expect.count} items`, { file: path, field: 'count' });
    }
    if (expect.dim !== undefined && dim !== expect.dim) {
      throw new BadInputError(`embeddings have ${dim} dimensions, expected ${expect.dim}`, { file: path, field: 'dim' });
    }
    let encoder: Record<string, unknown>;
    try {
      encoder = JSON.parse(meta.encoder ?? '') as Record<string, unknown>;
    } catch {
      throw new BadInputError('metadata encoder is not JSON', { file: path, field: 'encoder' });
    }
    const embeddings = (await st.read(EMBEDDINGS_TENSOR)).data as Float32Array;
    for (let i = 0; i < embeddings.length; i++) {
      const v = embeddings[i] as number;
      if (v - v !== 0) throw new BadInputError(`row ${Math.floor(i / dim)} holds ${v}`, { file: path, field: `row ${Math.floor(i / dim)}` });
    }
    return { embeddings, count, dim, encoder };
  } finally {
    await st.close();
  }
}
