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
 * EOS and forced steps: after a complete ID the trie allows only EOS, and below many prefixes only
 * one path leads on (12k items over 4 levels of 256 codes leave most 2-code prefixes with a single
 * item, unless the codes cluster heavily). A step
 * that allows a single token has renormalised log-probability log 1 = 0: it changes no score and
 * no order. So a beam whose prefix has a single completion is finished at once (its item and score
 * are final) and leaves the session, which then decodes only the beams that still have a choice;
 * when none is left the search stops. The result is exactly that of stepping through every token
 * (tested against a plain beam search and against brute force), at a fraction of the model calls. The decoded sequence is the ID
 * followed by EOS.
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
  /** The part of modelMs spent starting sessions (the prompts' prefill). */
  prefillMs: number;
  searchMs: number;
}

export function newSearchTiming(): SearchTiming {
  return { modelMs: 0, prefillMs: 0, searchMs: 0 };
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
  const lap = (into: 'modelMs' | 'searchMs') => {
    const now = performance.now();
    timing[into] += now - t;
    t = now;
  };
  const beams = new Beams(prompts.length, beamWidth, trie);
  if (beams.liveRows === 0) return beams.finished(); // a single-item catalogue: nothing to decide
  const session = await sessions.start(prompts);
  timing.prefillMs += performance.now() - t;
  lap('modelMs');
  try {
    while (beams.liveRows > 0) {
      const allowed = beams.allowedTokens();
      lap('searchMs');
      const logits = await session.nextLogits(allowed);
      lap('modelMs');
      checkLogits(session, logits, allowed);
      beams.extend(logits);
      if (beams.liveRows === 0) break;
      const { parents, tokens } = beams.lastMove();
      lap('searchMs');
      await session.advance(parents, tokens);
      lap('modelMs');
    }
    const out = beams.finished();
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
 * The beams of every prompt as flat typed arrays. Beams of prompt p are start[p] .. start[p+1]-1,
 * best first. A beam is live (row[b] >= 0: its session row; node[b]: its trie node) or finished
 * (row[b] = -1; node[b]: its leaf). Live beams hold the session's rows in beam order.
 */
class Beams {
  private start: Int32Array;
  private node: Int32Array;
  private score: Float64Array;
  private row: Int32Array;
  private parents = new Int32Array(0);
  private tokens = new Int32Array(0);
  liveRows: number;
  // Per-prompt top-k scratch: candidate score, beam, child index (-1: a finished beam carried over).
  private readonly topScore: Float64Array;
  private readonly topBeam: Int32Array;
  private readonly topChild: Int32Array;

  constructor(
    private readonly prompts: number,
    private readonly beamWidth: number,
    private readonly trie: DecodingTrie,
  ) {
    this.start = Int32Array.from({ length: prompts + 1 }, (_, i) => i);
    this.score = new Float64Array(prompts);
    const leaf = trie.forcedLeaf(DecodingTrie.ROOT);
    this.node = new Int32Array(prompts).fill(leaf >= 0 ? leaf : DecodingTrie.ROOT);
    this.row = leaf >= 0 ? new Int32Array(prompts).fill(-1) : Int32Array.from({ length: prompts }, (_, i) => i);
    this.liveRows = leaf >= 0 ? 0 : prompts;
    this.topScore = new Float64Array(beamWidth);
    this.topBeam = new Int32Array(beamWidth);
    this.topChild = new Int32Array(beamWidth);
  }

  /** Allowed tokens of every session row (live beams in order). */
  allowedTokens(): Int32Array[] {
    const out = new Array<Int32Array>(this.liveRows);
    for (let b = 0; b < this.row.length; b++) {
      const r = this.row[b] as number;
      if (r >= 0) out[r] = this.trie.allowed(this.node[b] as number);
    }
    return out;
  }

  /** Replaces the beams by the best extensions of the live ones and the finished ones carried over. */
  extend(logits: Float32Array[]): void {
    // Renormalise each row over its allowed tokens: subtract log-sum-exp (float64, max-shifted).
    const base = new Float64Array(this.liveRows);
    for (let b = 0; b < this.row.length; b++) {
      const r = this.row[b] as number;
      if (r < 0) continue;
      const lse = logSumExp(logits[r] as Float32Array);
      // A row whose allowed tokens all have probability 0 keeps score -Infinity, never NaN.
      base[r] = lse === -Infinity ? -Infinity : (this.score[b] as number) - lse;
    }
    const maxBeams = this.prompts * this.beamWidth;
    const nextStart = new Int32Array(this.prompts + 1);
    const nextNode = new Int32Array(maxBeams);
    const nextScore = new Float64Array(maxBeams);
    const nextRow = new Int32Array(maxBeams);
    const parents = new Int32Array(maxBeams);
    const tokens = new Int32Array(maxBeams);
    let out = 0;
    let live = 0;
    for (let p = 0; p < this.prompts; p++) {
      const kept = this.selectTop(this.start[p] as number, this.start[p + 1] as number, logits, base);
      for (let j = 0; j < kept; j++, out++) {
        const b = this.topBeam[j] as number;
        const child = this.topChild[j] as number;
        nextScore[out] = this.topScore[j] as number;
        if (child < 0) {
          nextNode[out] = this.node[b] as number;
          nextRow[out] = -1;
          continue;
        }
        const parentNode = this.node[b] as number;
        const node = this.trie.child(parentNode, child);
        const leaf = this.trie.forcedLeaf(node);
        if (leaf >= 0) {
          nextNode[out] = leaf;
          nextRow[out] = -1;
        } else {
          nextNode[out] = node;
          nextRow[out] = live;
          parents[live] = this.row[b] as number;
          tokens[live] = this.trie.allowed(parentNode)[child] as number;
          live++;
        }
      }
      nextStart[p + 1] = out;
    }
    this.start = nextStart;
    this.node = nextNode.subarray(0, out);
    this.score = nextScore.subarray(0, out);
    this.row = nextRow.subarray(0, out);
    this.parents = parents.subarray(0, live);
    this.tokens = tokens.subarray(0, live);
    this.liveRows = live;
  }

  /** The session rows after the last `extend`: row j continues old row parents[j] with tokens[j]. */
  lastMove(): { parents: Int32Array; tokens: Int32Array } {
    return { parents: this.parents, tokens: this.tokens };
  }

  finished(): RankedItems[] {
    return Array.from({ length: this.prompts }, (_, p) => {
      const from = this.start[p] as number;
      const to = this.start[p + 1] as number;
      const items = new Int32Array(to - from);
      for (let b = from; b < to; b++) items[b - from] = this.trie.itemOf(this.node[b] as number);
      return { items, scores: Float64Array.from(this.score.subarray(from, to)) };
    });
  }

  /**
   * Top `beamWidth` candidates of beams [from, to) into the scratch arrays, best first: a finished
   * beam is one candidate (its score is final), a live beam gives one per allowed token. Insertion:
   * a candidate must beat the current k-th strictly, so earlier (beam, child) pairs win ties,
   * exactly as if finished beams were stepped through their single tokens.
   */
  private selectTop(from: number, to: number, logits: Float32Array[], base: Float64Array): number {
    const k = this.beamWidth;
    let kept = 0;
    for (let b = from; b < to; b++) {
      const r = this.row[b] as number;
      if (r < 0) {
        kept = this.offer(kept, this.score[b] as number, b, -1);
        continue;
      }
      const z = logits[r] as Float32Array;
      const s0 = base[r] as number;
      for (let c = 0; c < z.length; c++) {
        const s = s0 + (z[c] as number);
        if (kept === k && !(s > (this.topScore[k - 1] as number))) continue;
        kept = this.offer(kept, s, b, c);
      }
    }
    return kept;
  }

  private offer(kept: number, s: number, beam: number, child: number): number {
    const k = this.beamWidth;
    const { topScore, topBeam, topChild } = this;
    if (kept === k && !(s > (topScore[k - 1] as number))) return kept;
    let at = kept < k ? kept++ : k - 1;
    while (at > 0 && s > (topScore[at - 1] as number)) {
      topScore[at] = topScore[at - 1] as number;
      topBeam[at] = topBeam[at - 1] as number;
      topChild[at] = topChild[at - 1] as number;
      at--;
    }
    topScore[at] = s;
    topBeam[at] = beam;
    topChild[at] = child;
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
