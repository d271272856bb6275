/**
 * From tokenized samples to training batches (spec E.2/E.3 loss masking):
 * - a sequence is prompt + response + EOS; EOS is always appended and always supervised, whatever
 *   the pad id is (positions are masked, never token ids, so pad == eos cannot hide it: spec K.13);
 * - too long: the prompt loses tokens on the LEFT (the history's oldest items), never the response;
 * - only positions that predict a response token or the EOS are supervised; the batch lists them
 *   as flat rows `b * seq + t` of the hidden states, so the head runs on those rows only;
 * - right padding to the longest sequence of the batch; units are sorted by length inside windows
 *   of a shuffled order (length buckets), so batches carry little padding.
 */
import { BadInputError } from '../errors.js';
import type { Rng } from '../tensor/rng.js';

/** One tokenized training sample, as the prompts stage renders it. */
export interface TokenizedSample {
  promptIds: Int32Array;
  responseIds: Int32Array;
}

/** A sample ready for batching: the full sequence and where supervision starts. */
export interface PreparedSequence {
  /** prompt (possibly left-truncated) + response + EOS */
  ids: Int32Array;
  /** Tokens of the prompt kept: targets are ids[promptLength..] */
  promptLength: number;
  /** Prompt tokens dropped on the left to fit maxLength. */
  truncated: number;
}

/** Builds prompt + response + EOS within `maxLength`, truncating the prompt from the left. */
export function prepareSequence(sample: TokenizedSample, eosId: number, maxLength: number, where: string): PreparedSequence {
  const { promptIds, responseIds } = sample;
  if (!(promptIds instanceof Int32Array) || !(responseIds instanceof Int32Array)) {
    throw new BadInputError(`${where}: promptIds and responseIds must be Int32Arrays`);
  }
  const supervised = responseIds.length + 1;
  if (supervised > maxLength) {
    throw new BadInputError(
      `${where}: the response has ${responseIds.length} tokens; with the EOS that exceeds maxLength ${maxLength} (the response is never truncated: raise finetune.maxLength or shorten the response)`,
      { field: 'finetune.maxLength' },
    );
  }
  const keep = Math.min(promptIds.length, maxLength - supervised);
  const truncated = promptIds.length - keep;
  const ids = new Int32Array(keep + supervised);
  ids.set(promptIds.subarray(truncated), 0);
  ids.set(responseIds, keep);
  ids[ids.length - 1] = eosId;
  return { ids, promptLength: keep, truncated };
}

/** Tokens whose prediction the loss covers: the response and the EOS (the first one only when a prompt token precedes it). */
export function supervisedCount(seq: PreparedSequence): number {
  return seq.ids.length - Math.max(seq.promptLength, 1);
}

/** One forward/backward pass worth of sequences. */
export interface Batch {
  batch: number;
  /** Padded length: the longest sequence of the batch. */
  seq: number;
  /** [batch, seq] row-major, right-padded with padId. */
  ids: Int32Array;
  /** Flat hidden-state rows `b * seq + t` whose next token is supervised. */
  rows: Int32Array;
  /** The token each of those rows must predict: ids[b * seq + t + 1]. */
  targets: Int32Array;
  /** Tokens of real sequences (without padding), for throughput figures. */
  realTokens: number;
}

export function buildBatch(sequences: readonly PreparedSequence[], padId: number): Batch {
  if (sequences.length === 0) throw new RangeError('buildBatch: no sequences');
  const seq = Math.max(...sequences.map((s) => s.ids.length));
  const ids = new Int32Array(sequences.length * seq).fill(padId);
  const rows: number[] = [];
  const targets: number[] = [];
  let realTokens = 0;
  sequences.forEach((s, b) => {
    ids.set(s.ids, b * seq);
    realTokens += s.ids.length;
    // Position t predicts token t + 1; supervised targets are the tokens from promptLength on.
    for (let t = Math.max(s.promptLength, 1) - 1; t < s.ids.length - 1; t++) {
      rows.push(b * seq + t);
      targets.push(s.ids[t + 1]!);
    }
  });
  return { batch: sequences.length, seq, ids, rows: Int32Array.from(rows), targets: Int32Array.from(targets), realTokens };
}

/**
 * The micro-batches of one epoch, as lists of unit indices. Units are visited in a shuffled order;
 * inside each window of `batchSize * window` units they are sorted by length (ties keep the
 * shuffled order) and cut into micro-batches; the micro-batches are shuffled again so long and
 * short ones alternate. Deterministic given the Rng's state and the lengths.
 */
export function planEpoch(lengths: Int32Array, batchSize: number, window: number, rng: Rng): Int32Array[] {
  const n = lengths.length;
  const order = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
  const batches: Int32Array[] = [];
  const span = batchSize * window;
  for (let from = 0; from < n; from += span) {
    const chunk = Array.from(order.subarray(from, Math.min(n, from + span)));
    if (window > 1) chunk.sort((a, b) => lengths[a]! - lengths[b]! || 0); // Array.sort is stable
    for (let i = 0; i < chunk.length; i += batchSize) batches.push(Int32Array.from(chunk.slice(i, i + batchSize)));
  }
  if (window > 1) rng.shuffle(batches);
  return batches;
}

/** Padding share of a plan: 1 - real tokens / padded tokens (0 = no waste). */
export function paddingWaste(plan: readonly Int32Array[], lengths: Int32Array): number {
  let real = 0;
  let padded = 0;
  for (const units of plan) {
    let longest = 0;
    for (const u of units) {
      real += lengths[u]!;
      longest = Math.max(longest, lengths[u]!);
    }
    padded += longest * units.length;
  }
  return padded === 0 ? 0 : 1 - real / padded;
}
