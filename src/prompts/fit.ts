/**
 * Fitting a sample into the model's context: when prompt + response (+ the EOS and any other
 * tokens the trainer adds) is longer than `maxLength` tokens, the oldest history items are
 * dropped, one at a time, never the response (issue 7, "Bad input"). The tokenizer is passed in
 * as `encode`, so this stays pure and independent of which tokenizer the model uses.
 */
import { renderSample, type PromptContext, type RenderedSample } from './render.js';
import type { SampleUnit } from './sampleUnit.js';

export type Encode = (text: string) => ArrayLike<number>;

export interface FitOptions {
  encode: Encode;
  /** Most tokens of prompt + response + `extraTokens`. */
  maxLength: number;
  /** Tokens the trainer adds around the text (default 1: the EOS). */
  extraTokens?: number;
}

export interface FittedSample extends RenderedSample {
  /** Oldest history items left out. */
  droppedHistory: number;
  /** Tokens of prompt + response + extraTokens as fitted. */
  length: number;
  /**
   * False when even the whole history dropped (or no history to drop) leaves it too long: the
   * caller skips the sample and counts it; the returned text is then the shortest rendering.
   */
  fits: boolean;
}

/**
 * The rendering of `unit` with the fewest history items dropped whose length fits. Lengths are
 * measured on prompt + response as one text (what the trainer tokenizes). Dropping history never
 * makes the text longer, so a binary search needs O(log h) encodings.
 */
export function fitSample(unit: SampleUnit, templateId: number, ctx: PromptContext, opts: FitOptions): FittedSample {
  const extra = opts.extraTokens ?? 1;
  if (!Number.isInteger(opts.maxLength) || opts.maxLength < 1) throw new RangeError(`maxLength must be a positive integer, got ${opts.maxLength}`);
  if (!Number.isInteger(extra) || extra < 0) throw new RangeError(`extraTokens must be an integer >= 0, got ${extra}`);
  const measure = (drop: number) => {
    const rendered = renderSample(unit, templateId, ctx, drop);
    return { rendered, length: opts.encode(rendered.prompt + rendered.response).length + extra };
  };
  const full = measure(0);
  if (full.length <= opts.maxLength) return { ...full.rendered, droppedHistory: 0, length: full.length, fits: true };
  const h = unit.history.length;
  const none = h > 0 ? measure(h) : full;
  if (none.length > opts.maxLength) return { ...none.rendered, droppedHistory: h, length: none.length, fits: false };
  // Invariant: dropping `lo` items is too long, dropping `hi` fits.
  let lo = 0;
  let hi = h;
  let best = none;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const m = measure(mid);
    if (m.length <= opts.maxLength) {
      hi = mid;
      best = m;
    } else lo = mid;
  }
  return { ...best.rendered, droppedHistory: hi, length: best.length, fits: true };
}
