/**
 * Trie-constrained beam search over semantic IDs, batched over prompts (spec G; issue 8 item 1).
 *
 * One decoding session holds every prompt's beams as rows, grouped by prompt and, within a
 * prompt, ordered best first. At step l (l = 0 .. depth-1) each row is at a trie node of depth l;
 * the session is asked for the logits of that node's children only (`nextLogits(allowed)`), and
 * the step's log-probability of a child c of node n is renormalised over those children:
 *
 *   logp(c | prompt, prefix) = z_c - log( sum_{c' in children(n)} exp(z_c') )
 *
 * A beam's score is the sum of these over its steps, so for a finished beam (a leaf = an item)
 *
 *   score(item) = sum_{l < depth} logp(code_l | prompt, code_0 .. code_{l-1})
 *               = log P(item | prompt), P = the model's distribution restricted to valid IDs,
 *
 * and exp(score) summed over ALL items is exactly 1. This is the `score` column of
 * predictions.parquet. (HF's official evaluation instead masks a log-softmax over the whole
 * vocabulary, so its scores also carry the probability mass the model put on invalid tokens.)
 *
 * Each step keeps, per prompt, the `beamWidth` best (row, child) extensions. Since the trie is a
 * tree, distinct extensions are distinct prefixes, so the finished beams are distinct items, and
 * every finished beam is an existing item (leaves are items, nothing else is reachable). Ties are
 * broken by the parent's rank, then by ascending code, so the result depends only on the logits.
 * When a prompt has fewer than `beamWidth` extensions (a small first level, or fewer items than
 * beams) it keeps all of them and returns fewer items.
 *
 * EOS: after a complete ID the trie allows only EOS, whose renormalised log-probability over that
 * one-token set is log 1 = 0. It changes no score and no order, so the search stops after the last
 * code instead of spending a model step on it; the decoded sequence is the ID followed by EOS.
 */
import type { DecodeSession, SessionFactory } from './decodeSession.js';
import { DecodingTrie } from './decodingTrie.js';

/** One prompt's finished beams, best first: item ids and their scores (log P, see above). */
export interface RankedItems {
  items: Int32Array;
  scores: Float64Array;
}

/** Wall time split between the model (session calls) and the search itself; accumulates. */
export interface SearchTiming {
  modelMs: number;
  searchMs: number;
}

export function newSearchTiming(): SearchTiming {
  return { modelMs: 0, searchMs: 0 };
}

export async function constrainedBeamSearch(
  sessions: SessionFactory,
  prompts: readonly Int32Array[],
  trie: DecodingTrie,
  beamWidth: number,
  timing: SearchTiming = newSearchTiming(),
): Promise<RankedItems[]> {
  if (!Number.isInteger(beamWidth) || beamWidth < 1) throw new RangeError(`beam width must be a positive integer, got ${beamWidth}`);
  if (prompts.length === 0) return [];
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new RangeError(`prompt ${i} is empty`);
  });
  let t = performance.now();
  const lap = (into: keyof SearchTiming) => {
    const now = performance.now();
    timing[into] += now - t;
    t = now;
  };
  const session = await sessions.start(prompts);
  lap('modelMs');
  try {
    const state = new BeamState(prompts.length, beamWidth);
    for (let level = 0; level < trie.depth; level++) {
      const allowed = state.allowedTokens(trie);
      lap('searchMs');
      const logits = await session.nextLogits(allowed);
      lap('modelMs');
      checkLogits(session, logits, allowed);
      state.extend(trie, logits);
      if (level < trie.depth - 1) {
        const { parents, tokens } = state.lastMove();
        lap('searchMs');
        await session.advance(parents, tokens);
        lap('modelMs');
      }
    }
    const out = state.finished(trie);
    lap('searchMs');
    return out;
  } finally {
    session.dispose();
  }
}

function checkLogits(session: DecodeSession, logits: Float32Array[], allowed: Int32Array[]): void {
  if (logits.length !== allowed.length) throw new Error(`decode session returned ${logits.length} logit rows for ${allowed.length} rows (session has ${session.rows})`);
  for (let r = 0; r < logits.length; r++) {
    if ((logits[r] as Float32Array).length !== (allowed[r] as Int32Array).length) {
      throw new Error(`decode session returned ${(logits[r] as Float32Array).length} logits for row ${r}, which allows ${(allowed[r] as Int32Array).length} tokens`);
    }
  }
}

/**
 * The live beams as flat typed arrays: rows of prompt p are rowStart[p] .. rowStart[p+1]-1, best
 * first. `extend` replaces them by the best extensions; the scratch arrays are reused.
 */
class BeamState {
  private rowStart: Int32Array;
  private node: Int32Array;
  private score: Float64Array;
  private parents = new Int32Array(0);
  private tokens = new Int32Array(0);
  // Per-prompt top-k scratch: candidate score, parent row, child index.
  private readonly topScore: Float64Array;
  private readonly topRow: Int32Array;
  private readonly topChild: Int32Array;

  constructor(
    private readonly prompts: number,
    private readonly beamWidth: number,
  ) {
    this.rowStart = Int32Array.from({ length: prompts + 1 }, (_, i) => i);
    this.node = new Int32Array(prompts).fill(DecodingTrie.ROOT);
    this.score = new Float64Array(prompts);
    this.topScore = new Float64Array(beamWidth);
    this.topRow = new Int32Array(beamWidth);
    this.topChild = new Int32Array(beamWidth);
  }

  allowedTokens(trie: DecodingTrie): Int32Array[] {
    const rows = this.node.length;
    const out = new Array<Int32Array>(rows);
    for (let r = 0; r < rows; r++) out[r] = trie.allowed(this.node[r] as number);
    return out;
  }

  extend(trie: DecodingTrie, logits: Float32Array[]): void {
    const rows = this.node.length;
    // Renormalise each row over its allowed tokens: subtract log-sum-exp (float64, max-shifted).
    const base = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const lse = logSumExp(logits[r] as Float32Array);
      // A row whose allowed tokens all have probability 0 keeps score -Infinity, never NaN.
      base[r] = lse === -Infinity ? -Infinity : (this.score[r] as number) - lse;
    }
    const maxRows = this.prompts * this.beamWidth;
    const nextStart = new Int32Array(this.prompts + 1);
    const nextNode = new Int32Array(maxRows);
    const nextScore = new Float64Array(maxRows);
    const parents = new Int32Array(maxRows);
    const tokens = new Int32Array(maxRows);
    let out = 0;
    for (let p = 0; p < this.prompts; p++) {
      const kept = this.selectTop(this.rowStart[p] as number, this.rowStart[p + 1] as number, logits, base);
      for (let j = 0; j < kept; j++, out++) {
        const row = this.topRow[j] as number;
        const child = this.topChild[j] as number;
        const parentNode = this.node[row] as number;
        parents[out] = row;
        tokens[out] = trie.allowed(parentNode)[child] as number;
        nextNode[out] = trie.child(parentNode, child);
        nextScore[out] = this.topScore[j] as number;
      }
      nextStart[p + 1] = out;
    }
    this.rowStart = nextStart;
    this.node = nextNode.subarray(0, out);
    this.score = nextScore.subarray(0, out);
    this.parents = parents.subarray(0, out);
    this.tokens = tokens.subarray(0, out);
  }

  /** The rows of the last `extend`: row j continues old row parents[j] with tokens[j]. */
  lastMove(): { parents: Int32Array; tokens: Int32Array } {
    return { parents: this.parents, tokens: this.tokens };
  }

  finished(trie: DecodingTrie): RankedItems[] {
    return Array.from({ length: this.prompts }, (_, p) => {
      const from = this.rowStart[p] as number;
      const to = this.rowStart[p + 1] as number;
      const items = new Int32Array(to - from);
      for (let r = from; r < to; r++) items[r - from] = trie.itemOf(this.node[r] as number);
      return { items, scores: Float64Array.from(this.score.subarray(from, to)) };
    });
  }

  /**
   * Top `beamWidth` extensions of rows [from, to) into the scratch arrays, best first, by
   * insertion: a candidate must beat the current k-th strictly, so earlier (row, child) pairs win
   * ties. Returns how many were kept.
   */
  private selectTop(from: number, to: number, logits: Float32Array[], base: Float64Array): number {
    const k = this.beamWidth;
    const { topScore, topRow, topChild } = this;
    let kept = 0;
    for (let r = from; r < to; r++) {
      const z = logits[r] as Float32Array;
      const b = base[r] as number;
      for (let c = 0; c < z.length; c++) {
        const s = b + (z[c] as number);
        if (kept === k && !(s > (topScore[k - 1] as number))) continue;
        let at = kept < k ? kept++ : k - 1;
        while (at > 0 && s > (topScore[at - 1] as number)) {
          topScore[at] = topScore[at - 1] as number;
          topRow[at] = topRow[at - 1] as number;
          topChild[at] = topChild[at - 1] as number;
          at--;
        }
        topScore[at] = s;
        topRow[at] = r;
        topChild[at] = c;
      }
    }
    return kept;
  }
}

/** log(sum exp(z)), shifted by the maximum; -Infinity for an empty row. NaN logits throw. */
export function logSumExp(z: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < z.length; i++) {
    const v = z[i] as number;
    if (v > max) max = v;
    else if (Number.isNaN(v)) throw new Error('the model produced NaN logits');
  }
  if (max === -Infinity) return max;
  if (max === Infinity) throw new Error('the model produced +Infinity logits');
  let sum = 0;
  for (let i = 0; i < z.length; i++) sum += Math.exp((z[i] as number) - max);
  return max + Math.log(sum);
}
