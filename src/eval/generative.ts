/**
 * Generative evaluation of one range of users (one shard): for every split and seqrec template,
 * render each user's prompt from the history before the held-out item, decode with the
 * trie-constrained beam search, and record the ranked items and the target's rank (spec G,
 * metrics.ts for the formulas). Shards are merged by evaluationFiles.ts.
 *
 * Prompts of the same split and template are decoded in batches of `batchPrompts`, starting at
 * `users.from`. The search treats each prompt on its own (beamSearch.ts); a real model's logits
 * can still differ in their last bits with the other prompts of a batch (padding changes the
 * shapes of its sums), so shards start on batch boundaries (shards.ts) and every shard count
 * decodes the same batches.
 */
import { evalCase, type EvalSplit } from '../data/datasetReader.js';
import { constrainedBeamSearch, newSearchTiming, type SearchTiming } from '../search/beamSearch.js';
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
      for (let start = 0; start < count; start += opts.batchPrompts) {
        opts.signal?.throwIfAborted();
        const batch = cases.slice(start, start + opts.batchPrompts);
        const prompts = batch.map((c) => model.renderPrompt(c.history, template));
        const ranked = await constrainedBeamSearch(model.sessions, prompts, model.trie, opts.beamWidth, timing);
        ranked.forEach(({ items, scores }, i) => {
          const user = users.from + start + i;
          const target = (batch[i] as { target: number }).target;
          part.target[start + i] = target;
          part.targetRank[start + i] = rankOf(items, target);
          for (let r = 0; r < items.length; r++, row++) {
            part.predictions.user[row] = user;
            part.predictions.rank[row] = r;
            part.predictions.item[row] = items[r] as number;
            part.predictions.score[row] = scores[r] as number;
          }
        });
        timing.prompts += batch.length;
        opts.onProgress?.({ phase: `evaluating ${split}, template ${template}`, done: timing.prompts, total });
        // Let the worker send heartbeats and poll between batches.
        await new Promise((resolve) => setImmediate(resolve));
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
