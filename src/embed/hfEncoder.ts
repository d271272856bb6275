/**
 * The `hf` item encoder: item text embeddings from a Hugging Face Qwen model directory, pooled
 * over the last hidden state (after the final norm, as `AutoModel` returns it):
 * - 'mean': the average over the text's tokens, LC-Rec's official recipe (spec B): each field
 *   (title, description, ...) is encoded on its own and the per-field vectors are averaged,
 *   skipping empty fields; no normalisation.
 * - 'last': the hidden state of the last token, Qwen3-Embedding's pooling (its tokenizer appends
 *   <|endoftext|>, which the `tokenize` callback is expected to do); with `normalize` L2-unit rows.
 * Texts are tokenized by the caller (src/llm/tokenizer*.ts), truncated to `maxLength` tokens,
 * sorted by length and run in right-padded batches of at most `batchTokens` tokens (causal
 * attention: padding after a text never changes its hidden states). `embedItemTexts` adds
 * resumable chunk files through embed/chunks.ts.
 */
import { z } from 'zod';
import { tf } from '../tensor/backend.js';
import type { ProgressSink } from '../data/itemText.js';
import type { QwenModel } from '../llm/model.js';
import { encodeInChunks } from './chunks.js';
import type { ChunkedEncodeResult } from './chunks.js';

export const HF_ENCODER_VERSION = 'hf/1';

export const HfEncoderSettingsSchema = z.strictObject({
  /** A local Hugging Face model directory (config.json + safetensors), loaded with loadQwen. */
  modelDir: z.string().min(1),
  pooling: z.enum(['mean', 'last']).default('mean'),
  /** Item text fields, each encoded separately and averaged (LC-Rec: title, description). */
  fields: z.array(z.enum(['title', 'description', 'brand', 'categories'])).min(1).default(['title', 'description']),
  /** Tokens kept per text (the first ones). */
  maxLength: z.int().min(1).max(32768).default(512),
  /** Upper bound of batch x padded length per forward pass. */
  batchTokens: z.int().min(1).default(4096),
  /** L2-normalise each item vector (Qwen3-Embedding does; LC-Rec does not). */
  normalize: z.boolean().default(false),
  /** Items per resumable chunk file. */
  chunkSize: z.int().min(1).default(256),
});
export type HfEncoderSettings = z.infer<typeof HfEncoderSettingsSchema>;

export interface PoolingOptions {
  pooling: 'mean' | 'last';
  maxLength: number;
  batchTokens: number;
}

/** One vector per text, [texts.length * hidden]; an empty token list gives a zero vector. */
export function encodeTokenized(model: QwenModel, tokenized: readonly Int32Array[], opts: PoolingOptions): Float32Array {
  const width = model.hiddenSize;
  const out = new Float32Array(tokenized.length * width);
  const texts = tokenized.map((ids, index) => ({ index, ids: ids.length > opts.maxLength ? ids.subarray(0, opts.maxLength) : ids })).filter((t) => t.ids.length > 0);
  texts.sort((a, b) => a.ids.length - b.ids.length || a.index - b.index); // similar lengths share a batch
  let at = 0;
  while (at < texts.length) {
    // Longest first in the batch is the last one taken: grow while batch x its length fits.
    let end = at + 1;
    while (end < texts.length && (end + 1 - at) * (texts[end] as { ids: Int32Array }).ids.length <= opts.batchTokens) end++;
    const batch = texts.slice(at, end);
    const seq = (batch[batch.length - 1] as { ids: Int32Array }).ids.length;
    const ids = new Int32Array(batch.length * seq);
    batch.forEach((t, b) => ids.set(t.ids, b * seq));
    const hidden = tf.tidy(() => model.hidden(ids, batch.length, seq).dataSync() as Float32Array);
    batch.forEach((t, b) => {
      const row = out.subarray(t.index * width, (t.index + 1) * width);
      if (opts.pooling === 'last') {
        row.set(hidden.subarray((b * seq + t.ids.length - 1) * width, (b * seq + t.ids.length) * width));
        return;
      }
      const sum = new Float64Array(width);
      for (let p = 0; p < t.ids.length; p++) {
        const from = (b * seq + p) * width;
        for (let j = 0; j < width; j++) sum[j] = (sum[j] as number) + (hidden[from + j] as number);
      }
      for (let j = 0; j < width; j++) row[j] = (sum[j] as number) / t.ids.length;
    });
    at = end;
  }
  return out;
}

export interface ItemEncodeOptions extends PoolingOptions {
  /** Token ids of one text. */
  tokenize: (text: string) => Int32Array;
  normalize: boolean;
}

/**
 * Item vectors [items.length * hidden]: each item's non-empty fields encoded separately and
 * averaged (an item with no text gets a zero vector), optionally L2-normalised.
 */
export function encodeItems(model: QwenModel, items: readonly (readonly string[])[], opts: ItemEncodeOptions): Float32Array {
  const width = model.hiddenSize;
  const owners: number[] = [];
  const tokenized: Int32Array[] = [];
  items.forEach((fields, item) => {
    for (const text of fields) {
      if (text.trim() === '') continue;
      owners.push(item);
      tokenized.push(opts.tokenize(text));
    }
  });
  const vectors = encodeTokenized(model, tokenized, opts);
  const out = new Float32Array(items.length * width);
  const counts = new Int32Array(items.length);
  owners.forEach((item, t) => {
    counts[item]! += 1;
    for (let j = 0; j < width; j++) out[item * width + j] = (out[item * width + j] as number) + (vectors[t * width + j] as number);
  });
  for (let item = 0; item < items.length; item++) {
    const row = out.subarray(item * width, (item + 1) * width);
    const n = counts[item] as number;
    if (n > 1) for (let j = 0; j < width; j++) row[j] = (row[j] as number) / n;
    if (opts.normalize) {
      const norm = Math.hypot(...row);
      if (norm > 0) for (let j = 0; j < width; j++) row[j] = (row[j] as number) / norm;
    }
  }
  return out;
}

export interface EmbedItemTextsOptions extends ItemEncodeOptions {
  chunkSize: number;
  /**
   * Identifies the computation for resuming: the model's content digest, the settings and the
   * items' digest (chunk files of another computation are recomputed, never reused).
   */
  fingerprint: string;
  workDir?: string;
  onChunk?: (file: string, index: number) => void | Promise<void>;
  onProgress?: ProgressSink;
  signal?: AbortSignal;
}

/** encodeItems chunk by chunk, each chunk written to `workDir` so an interrupted job resumes. */
export async function embedItemTexts(model: QwenModel, items: readonly (readonly string[])[], opts: EmbedItemTextsOptions): Promise<ChunkedEncodeResult> {
  return encodeInChunks({
    count: items.length,
    dim: model.hiddenSize,
    chunkSize: opts.chunkSize,
    fingerprint: `${HF_ENCODER_VERSION}:${opts.fingerprint}`,
    encodeChunk: (start, end) => encodeItems(model, items.slice(start, end), opts),
    ...(opts.workDir !== undefined ? { workDir: opts.workDir } : {}),
    ...(opts.onChunk ? { onChunk: opts.onChunk } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}
