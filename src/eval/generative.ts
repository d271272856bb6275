/**
 * Generative evaluation of one range of users (one shard): for every split and seqrec template,
 * render each user's prompt from the history before the held-out item, decode with the
 * trie-constrained beam search, and record the ranked items and the target's rank (spec G,
 * metrics.ts for the formulas). Shards are merged by evaluationFiles.ts.
 *
 * Prompts of the same split and template are decoded in batches of `batchPrompts`. The session
 * pads every prompt to the longest of its batch, so users are taken in windows of
 * LENGTH_SORT_BATCHES batches (from `users.from`), sorted by prompt length within a window (ties:
 * user order) and batched in that order; rows are written back in user order. The search treats
 * each prompt on its own (beamSearch.ts), but a real model's logits can differ in their last bits
 * with the other prompts of a batch (padding changes the shapes of its sums), so shards start on
 * window boundaries (shards.ts, `lengthSortWindow`) and every shard count decodes the same batches.
 */
import { evalCase, type EvalSplit } from '../data/datasetReader.js';
import { constrainedBeamSearch, newSearchTiming, type RankedItems, type SearchTiming } from '../search/beamSearch.js';
import type { SessionFactory } from '../search/decodeSession.js';
import type { DecodingTrie } from '../search/decodingTrie.js';
import type { PredictionColumns } from './evaluate.js';
import { rankOf } from './metrics.js';
import type { UserRange } from './shards.js';

/** Token ids of the seqrec prompt for `history` (item ids, oldest first) with template `templateId`, ending where the ID's first code token goes. */
export type RenderPrompt = (history: Int32Array, templateId: number) => Int32Array;

/** What the evaluation needs of a fine-tuned model: decoding sessions, its code tokens (in the trie), its prompts. */
export interface GenerativeRecommender {
  sessions: SessionFactory;
  trie: DecodingTrie;
  renderPrompt: RenderPrompt;
}

/** One (split, template) over a range of users: rows of predictions.parquet and targets.parquet. */
export interface EvaluationPart {
  split: EvalSplit;
  template: number;
  users: UserRange;
  /** Per user of the range: the held-out item and its 0-based rank among the beams (-1: absent). */
  target: Int32Array;
  targetRank: Int32Array;
  predictions: PredictionColumns;
}

export interface UsersEvaluation {
  users: UserRange;
  beamWidth: number;
  /** Splits outer, templates inner, in the order given. */
  parts: EvaluationPart[];
  timing: SearchTiming & { prompts: number };
}

/** Batches per length-sorting window: long enough to group similar lengths, short enough to keep shards fine-grained. */
export const LENGTH_SORT_BATCHES = 8;

/** Users per length-sorting window; shards must start on multiples of it (relative to user 0). */
export function lengthSortWindow(batchPrompts: number): number {
  return batchPrompts * LENGTH_SORT_BATCHES;
}

export interface EvaluateUsersOptions {
  splits: readonly EvalSplit[];
  templates: readonly number[];
  beamWidth: number;
  batchPrompts: number;
  maxHistory: number;
  signal?: AbortSignal;
  onProgress?: (p: { phase: string; done: number; total: number }) => void;
}

export async function evaluateUsers(
  model: GenerativeRecommender,
  sequences: readonly Int32Array[],
  users: UserRange,
  opts: EvaluateUsersOptions,
): Promise<UsersEvaluation> {
  if (users.from < 0 || users.to > sequences.length || users.from > users.to) throw new RangeError(`users ${users.from}..${users.to} are not within 0..${sequences.length}`);
  if (opts.templates.length === 0 || opts.splits.length === 0) throw new RangeError('nothing to evaluate: no split or no template');
  const count = users.to - users.from;
  const timing = { ...newSearchTiming(), prompts: 0 };
  const total = count * opts.splits.length * opts.templates.length;
  const parts: EvaluationPart[] = [];
  for (const split of opts.splits) {
    const cases = Array.from({ length: count }, (_, i) => {
      const user = users.from + i;
      const sequence = sequences[user] as Int32Array;
      if (sequence.length < 3) throw new RangeError(`user ${user} has ${sequence.length} items; leave-one-out needs at least 3`);
      const { history, target } = evalCase(sequence, split);
      return { history: history.subarray(Math.max(0, history.length - opts.maxHistory)), target };
    });
    for (const template of opts.templates) {
      const part = newPart(split, template, users, opts.beamWidth);
      let row = 0;
      const window = lengthSortWindow(opts.batchPrompts);
      for (let blockStart = 0; blockStart < count; blockStart += window) {
        const n = Math.min(count, blockStart + window) - blockStart;
        const prompts = Array.from({ length: n }, (_, i) => model.renderPrompt((cases[blockStart + i] as { history: Int32Array }).history, template));
        // Batches of similar lengths: the session pads every prompt to its batch's longest.
        const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => (prompts[a] as Int32Array).length - (prompts[b] as Int32Array).length || a - b);
        const results = new Array<RankedItems>(n);
        for (let start = 0; start < n; start += opts.batchPrompts) {
          opts.signal?.throwIfAborted();
          const batch = order.subarray(start, start + opts.batchPrompts);
          const ranked = await constrainedBeamSearch(model.sessions, Array.from(batch, (i) => prompts[i] as Int32Array), model.trie, opts.beamWidth, timing);
          ranked.forEach((r, j) => (results[batch[j] as number] = r));
          timing.prompts += batch.length;
          opts.onProgress?.({ phase: `evaluating ${split}, template ${template}`, done: timing.prompts, total });
          // Let the worker send heartbeats and poll between batches.
          await new Promise((resolve) => setImmediate(resolve));
        }
        // Rows in user order, whatever order the batches ran in.
        for (let i = 0; i < n; i++) {
          const at = blockStart + i;
          const { items, scores } = results[i] as RankedItems;
          const target = (cases[at] as { target: number }).target;
          part.target[at] = target;
          part.targetRank[at] = rankOf(items, target);
          for (let r = 0; r < items.length; r++, row++) {
            part.predictions.user[row] = users.from + at;
            part.predictions.rank[row] = r;
            part.predictions.item[row] = items[r] as number;
            part.predictions.score[row] = scores[r] as number;
          }
        }
      }
      part.predictions = trimColumns(part.predictions, row);
      parts.push(part);
    }
  }
  return { users, beamWidth: opts.beamWidth, parts, timing };
}

function newPart(split: EvalSplit, template: number, users: UserRange, beamWidth: number): EvaluationPart {
  const count = users.to - users.from;
  const rows = count * beamWidth;
  return {
    split,
    template,
    users,
    target: new Int32Array(count),
    targetRank: new Int32Array(count),
    predictions: { user: new Int32Array(rows), rank: new Int32Array(rows), item: new Int32Array(rows), score: new Float64Array(rows) },
  };
}

function trimColumns(c: PredictionColumns, rows: number): PredictionColumns {
  return { user: c.user.slice(0, rows), rank: c.rank.slice(0, rows), item: c.item.slice(0, rows), score: c.score.slice(0, rows) };
}
