/**
 * The embed stage: items.parquet -> item_embeddings.safetensors (items x dim float32, row =
 * item_id), with the encoder the settings name. An activity calls `embedItems` with its attempt
 * directory; nothing here knows about Temporal or the artifact store.
 */
import { join } from 'node:path';
import { ITEMS_SCHEMA } from '../data/datasetTables.js';
import type { ProgressSink } from '../data/itemText.js';
import { BadInputError } from '../errors.js';
import { readParquet } from '../tables/parquet.js';
import { deriveSeed } from '../tensor/rng.js';
import { DEFAULT_FILE_ENCODER_SETTINGS, loadEmbeddingFile } from './fileEncoder.js';
import type { FileEncoderSettings, ItemKeys } from './fileEncoder.js';
import { DEFAULT_TFIDF_SETTINGS, encodeTfidf, TFIDF_VERSION } from './tfidf.js';
import type { ItemTextFields, TfidfSettings } from './tfidf.js';
import { EMBEDDINGS_FILE, writeItemEmbeddings } from './writeEmbeddings.js';
import { embedItemTexts, HF_ENCODER_VERSION, HfEncoderSettingsSchema, type HfEncoderSettings } from './hfEncoder.js';
import { loadQwen } from '../llm/checkpoint.js';
import { HfTokenizer } from '../llm/tokenizer.js';

/** Part of the stage key: bump when a change alters what the stage writes. */
export const EMBED_CODE_VERSION = `embed/1+${TFIDF_VERSION}+${HF_ENCODER_VERSION}`;

export const ENCODERS = ['tfidf', 'file', 'hf'] as const;
export type EncoderName = (typeof ENCODERS)[number];

export interface EmbedSettings {
  encoder: EncoderName;
  tfidf: TfidfSettings;
  /** Used when encoder = 'file'; `path` is then required. */
  file: Omit<FileEncoderSettings, 'path'> & { path: string | null };
  /** Used when encoder = 'hf'; `modelDir` is then required. */
  hf: Omit<HfEncoderSettings, 'modelDir'> & { modelDir: string | null };
}

export const DEFAULT_EMBED_SETTINGS: EmbedSettings = {
  encoder: 'tfidf',
  tfidf: DEFAULT_TFIDF_SETTINGS,
  file: { path: null, ...DEFAULT_FILE_ENCODER_SETTINGS },
  hf: { ...HfEncoderSettingsSchema.parse({ modelDir: '-' }), modelDir: null },
};

export interface EmbedItemsOptions {
  /** items.parquet of the ingest stage. */
  itemsPath: string;
  /** Where item_embeddings.safetensors is written. */
  outDir: string;
  settings: EmbedSettings;
  /** The run's root seed (the encoder derives its own from it). */
  seed: number;
  /** Chunk files for resuming (tfidf, hf); see chunks.ts. */
  workDir?: string;
  /** Identifies the computation for the hf encoder's chunk files (e.g. the stage key). */
  fingerprint?: string;
  onChunk?: (file: string, index: number) => void | Promise<void>;
  onProgress?: ProgressSink;
  signal?: AbortSignal;
}

/** What `lcrec status` shows. */
export interface EmbedSummary {
  encoder: EncoderName;
  items: number;
  dim: number;
  file: string;
  /** tfidf only. */
  vocabulary?: number;
  emptyItems?: number;
  chunks?: number;
  resumedChunks?: number;
  /** file only. */
  sourceFormat?: string;
  sourceDtype?: string;
  idsChecked?: boolean;
  seconds: number;
}

export async function embedItems(opts: EmbedItemsOptions): Promise<EmbedSummary> {
  const started = performance.now();
  const { settings } = opts;
  const items = await readItems(opts.itemsPath);
  const out = join(opts.outDir, EMBEDDINGS_FILE);
  opts.signal?.throwIfAborted();

  if (settings.encoder === 'tfidf') {
    const result = await encodeTfidf(items.text, settings.tfidf, {
      seed: deriveSeed(opts.seed, 'embed/tfidf'),
      ...chunking(opts),
    });
    await writeItemEmbeddings(out, { embeddings: result.embeddings, count: items.count, dim: result.dim, encoder: result.encoder });
    return {
      encoder: 'tfidf',
      items: items.count,
      dim: result.dim,
      file: EMBEDDINGS_FILE,
      vocabulary: result.stats.vocabulary,
      emptyItems: result.stats.emptyItems,
      chunks: result.chunks,
      resumedChunks: result.resumedChunks,
      seconds: elapsed(started),
    };
  }
  if (settings.encoder === 'file') {
    const { path, ...rest } = settings.file;
    if (path === null || path === '') throw new BadInputError('the file encoder needs embed.file.path', { field: 'embed.file.path' });
    opts.onProgress?.({ phase: 'reading embeddings', done: 0, total: items.count });
    const loaded = await loadEmbeddingFile({ path, ...rest }, items.keys);
    opts.onProgress?.({ phase: 'reading embeddings', done: items.count, total: items.count });
    await writeItemEmbeddings(out, { embeddings: loaded.embeddings, count: loaded.count, dim: loaded.dim, encoder: loaded.encoder });
    return {
      encoder: 'file',
      items: items.count,
      dim: loaded.dim,
      file: EMBEDDINGS_FILE,
      sourceFormat: loaded.format,
      sourceDtype: loaded.dtype,
      idsChecked: loaded.idsChecked,
      seconds: elapsed(started),
    };
  }
  if (settings.encoder === 'hf') {
    const { modelDir, ...hf } = settings.hf;
    if (modelDir === null || modelDir === '') throw new BadInputError('the hf encoder needs embed.hf.modelDir: a local Hugging Face model directory', { field: 'embed.hf.modelDir' });
    const model = await loadQwen(modelDir);
    try {
      const tokenizer = await HfTokenizer.fromDir(modelDir);
      const texts = items.text.map((fields) => hf.fields.map((field) => fields[field]));
      const result = await embedItemTexts(model, texts, {
        ...hf,
        tokenize: (text) => tokenizer.encode(text),
        fingerprint: opts.fingerprint ?? `${modelDir}:${JSON.stringify(hf)}:${items.count}`,
        ...chunking(opts),
      });
      await writeItemEmbeddings(out, { embeddings: result.embeddings, count: items.count, dim: model.hiddenSize, encoder: { name: 'hf', version: HF_ENCODER_VERSION, model: modelDir, ...hf } });
      return { encoder: 'hf', items: items.count, dim: model.hiddenSize, file: EMBEDDINGS_FILE, chunks: result.chunks, resumedChunks: result.resumedChunks, seconds: elapsed(started) };
    } finally {
      model.dispose();
    }
  }
  throw new BadInputError(`unknown encoder '${String(settings.encoder)}'; use one of ${ENCODERS.join(', ')}`, { field: 'embed.encoder' });
}

/** The resumable-chunk options both chunked encoders take, without undefined keys (exact optional types). */
function chunking(opts: EmbedItemsOptions) {
  return {
    ...(opts.workDir !== undefined ? { workDir: opts.workDir } : {}),
    ...(opts.onChunk ? { onChunk: opts.onChunk } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
}

/** items.parquet: text fields and keys in item-id order (item_id must equal the row). */
export async function readItems(path: string): Promise<{ count: number; text: ItemTextFields[]; keys: ItemKeys }> {
  const table = await readParquet(path, ITEMS_SCHEMA);
  const count = table.numRows;
  const col = (name: keyof typeof ITEMS_SCHEMA) => table.getChild(name)!;
  const ids = col('item_id');
  const [title, brand, categories, description, sourceId, asin] = (['title', 'brand', 'categories', 'description', 'source_id', 'asin'] as const).map(col);
  const text: ItemTextFields[] = new Array(count);
  const sourceIds: string[] = new Array(count);
  const asins: (string | null)[] = new Array(count);
  for (let i = 0; i < count; i++) {
    if (ids.get(i) !== i) throw new BadInputError(`row ${i} has item_id ${ids.get(i)}; item ids must be 0..N-1 in row order`, { file: path, field: 'item_id' });
    text[i] = {
      title: (title!.get(i) as string | null) ?? '',
      brand: (brand!.get(i) as string | null) ?? '',
      categories: (categories!.get(i) as string | null) ?? '',
      description: (description!.get(i) as string | null) ?? '',
    };
    sourceIds[i] = (sourceId!.get(i) as string | null) ?? '';
    asins[i] = asin!.get(i) as string | null;
  }
  return { count, text, keys: { count, sourceIds, asins } };
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) / 10) / 100;
}
