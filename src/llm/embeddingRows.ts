/**
 * Row operations on the vocabulary tables (the embedding and, when untied, lm_head), for adding
 * semantic-ID tokens and for pruning the vocabulary of from-scratch models. Each keeps config
 * vocab_size equal to the tables' rows. Run them before an optimiser is created: they replace the
 * two variables.
 *
 * New rows are initialised one of two ways (the spec's D.3 notes both appear in transformers):
 * - 'normal': N(0, std^2), std = 0.02 (transformers' initializer_range), as older transformers'
 *   resize_token_embeddings drew them. Row r of table T comes from its own stream
 *   rngFor(seed, `T:r`), so its values do not depend on which other rows are initialised.
 * - 'mean': the mean of the rows that are kept as they are, the centre newer transformers use (they
 *   add a small multivariate-normal perturbation; we take the exact mean: deterministic, no
 *   covariance matrix of hidden x hidden).
 */
import { tf } from '../tensor/backend.js';
import { rngFor } from '../tensor/rng.js';
import type { QwenModel } from './model.js';
import { EMBED, INIT_STD, LM_HEAD } from './weights.js';

export type RowInit = { kind: 'normal'; seed: number; std?: number } | { kind: 'mean' };

/** Grows (new rows initialised) or shrinks (trailing rows dropped) the vocabulary to `rows`. */
export function resizeVocabulary(model: QwenModel, rows: number, init: RowInit): void {
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`resizeVocabulary: rows must be a positive integer, got ${rows}`);
  const old = model.vocabSize;
  const fresh = Int32Array.from({ length: Math.max(0, rows - old) }, (_, i) => old + i);
  rebuild(model, rows, (table, data, width) => {
    const out = new Float32Array(rows * width);
    out.set(data.subarray(0, Math.min(old, rows) * width));
    fill(out, width, fresh, init, table, data, Math.min(old, rows));
    return out;
  });
}

/** Re-initialises the given rows (e.g. every code-token row, some of which were padding rows). */
export function reinitRows(model: QwenModel, rowIds: Int32Array, init: RowInit): void {
  const rows = model.vocabSize;
  const unique = new Set<number>();
  for (const r of rowIds) {
    if (!Number.isInteger(r) || r < 0 || r >= rows) throw new RangeError(`reinitRows: row ${r} is outside the vocabulary (0..${rows - 1})`);
    unique.add(r);
  }
  if (init.kind === 'mean' && unique.size === rows) throw new RangeError('reinitRows: mean initialisation needs at least one row that is kept');
  rebuild(model, rows, (table, data, width) => {
    const out = Float32Array.from(data);
    fill(out, width, Int32Array.from(unique), init, table, data, rows, unique);
    return out;
  });
}

/** Keeps only the rows `oldIds`, in that order: new id i is old id oldIds[i] (vocabulary pruning). */
export function keepRows(model: QwenModel, oldIds: Int32Array): void {
  const rows = model.vocabSize;
  if (oldIds.length === 0) throw new RangeError('keepRows: no rows to keep');
  const seen = new Set<number>();
  for (const r of oldIds) {
    if (!Number.isInteger(r) || r < 0 || r >= rows) throw new RangeError(`keepRows: row ${r} is outside the vocabulary (0..${rows - 1})`);
    if (seen.has(r)) throw new RangeError(`keepRows: row ${r} is listed twice`);
    seen.add(r);
  }
  rebuild(model, oldIds.length, (_table, data, width) => {
    const out = new Float32Array(oldIds.length * width);
    oldIds.forEach((r, i) => out.set(data.subarray(r * width, (r + 1) * width), i * width));
    return out;
  });
}

type Transform = (table: string, data: Float32Array, width: number) => Float32Array;

function rebuild(model: QwenModel, rows: number, transform: Transform): void {
  const width = model.hiddenSize;
  const table = (name: string): tf.Tensor2D => {
    const w = model.weights.get(name);
    if (!w) throw new RangeError(`weight '${name}' is missing`);
    return tf.tensor2d(transform(name, w.dataSync() as Float32Array, width), [rows, width]);
  };
  const embed = table(EMBED);
  const head = model.config.tie_word_embeddings ? undefined : table(LM_HEAD);
  model.replaceVocabularyTables({ embed, head });
}

/**
 * Writes `targets` rows of `out`. 'mean' averages the first `sourceRows` rows of `data` that are
 * not in `exclude` (rows being re-initialised never feed the mean).
 */
function fill(out: Float32Array, width: number, targets: Int32Array, init: RowInit, table: string, data: Float32Array, sourceRows: number, exclude?: Set<number>): void {
  if (targets.length === 0) return;
  if (init.kind === 'normal') {
    const std = init.std ?? INIT_STD;
    for (const r of targets) rngFor(init.seed, `${table}:${r}`).fillNormal(out.subarray(r * width, (r + 1) * width), 0, std);
    return;
  }
  const sum = new Float64Array(width);
  let count = 0;
  for (let r = 0; r < sourceRows; r++) {
    if (exclude?.has(r)) continue;
    for (let j = 0; j < width; j++) sum[j] = (sum[j] as number) + (data[r * width + j] as number);
    count++;
  }
  if (count === 0) throw new RangeError('mean initialisation needs at least one existing row');
  const mean = Float32Array.from(sum, (s) => s / count);
  for (const r of targets) out.set(mean, r * width);
}

/**
 * Applies the tokenizer side's vocabulary plan (src/llm/vocabCodes.ts planVocabulary): the tables
 * get `vocabSize` rows, then every row in `reinitRows` (each code token, including ids that landed
 * on Qwen's padding rows) is initialised with `init`.
 */
export function applyVocabularyPlan(model: QwenModel, plan: { vocabSize: number; reinitRows: Int32Array }, init: RowInit): void {
  if (plan.vocabSize !== model.vocabSize) resizeVocabulary(model, plan.vocabSize, init);
  if (plan.reinitRows.length > 0) reinitRows(model, plan.reinitRows, init);
}
