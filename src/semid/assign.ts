/**
 * Semantic-ID assignment with collision repair (spec D).
 *
 * Input: the RQ-VAE's argmin code tuple of every item (levels L) and a function giving the LAST
 * level's cost rows (squared distances of the item's last residual to the last codebook, K per
 * item). Output: a collision-free code tuple per item.
 *
 * 1. Sinkhorn repair. What OFF:index/generate_indices.py does (strategy 'official'): at most
 *    `maxRounds` (20) rounds, while collisions exist, group the items whose full tuple is identical;
 *    for each group separately run Sinkhorn on the group's B_g x K cost rows (sinkhornAssign: the
 *    official centring to [-1, 1], exp(-D'/epsilon), `sinkhornIterations` (50, the official
 *    sk_iters) row / column normalisations, argmax per row) and replace the members' last code.
 *    Prefix levels never change. Then group again: a moved item may now collide with another one.
 *    What the official Sinkhorn does to a group of two: each column's mass is split between the
 *    two rows, so each item gets the code where its cost is lowest RELATIVE to the other item, not
 *    its own second-best code; where several columns are won outright (the other item's share
 *    below float64 resolution, common with epsilon = 0.003) the row maximum is a tie and, as with
 *    torch.argmax, the lowest code wins. Items with identical cost rows (duplicate text, so
 *    identical embeddings and residuals) get identical plans and always identical codes.
 *    Two weaknesses follow, both seen in test/unit/semidAssign.test.ts: a group is re-assigned
 *    blind to the codes that other items under the same prefix hold, so it lands on them, and the
 *    rounds can cycle (A displaces B, B displaces A) until the 20 are spent, leaving DISTINCT items
 *    colliding; and a group of identical items is moved, together, to the lowest tied code.
 *    The default strategy 'free-codes' is the same per-group Sinkhorn with two changes:
 *    - the group's Sinkhorn runs only over the last-level codes that no item outside the group
 *      uses under the same prefix (its B_g x F submatrix, centred as the official code centres the
 *      whole matrix); groups are handled one after another, in the order of their first item id,
 *      each seeing the codes the earlier ones took; so a moved item never lands on another item;
 *    - a group whose members all have identical cost rows is left on its argmin code.
 *    So what still collides after Sinkhorn is what it cannot separate: identical (or, for ties,
 *    near-identical) rows, or more members than free codes.
 *    Differences from the official code shared by both strategies, none of which changes a code:
 *    the log-domain float64 Sinkhorn never overflows (the official exp(333) only warns); a round
 *    that changes no code ends the loop (the official code repeats that fixed point until round
 *    20); cost rows are fetched once per item and reused (they do not depend on the group).
 * 2. Disambiguation level: items that still share a tuple get one extra level, numbered 0, 1, 2...
 *    within their group in item-id order, so the final mapping has exactly zero collisions.
 *
 * How a variable number of levels is handled (decided here, used by vocabulary.ts, trie.ts and the
 * decoding of the LLM issue): the extra level is added to EVERY item or to none. When any group
 * still collides after Sinkhorn, every item gets L + 1 codes; the extra code is 0 for items that
 * do not collide and the rank within the group (0, 1, ...) for those that do; the vocabulary gets a
 * level L of `largest group` tokens `<C{L}_0>`...; when nothing collides there is no extra level.
 * Why fixed length rather than a suffix on the colliding items only:
 * - every ID has the same number of tokens, so beam search compares sequences of equal length
 *   (HF's length-normalised `sequences_scores` and sum-log-prob give the same order, as in the
 *   official evaluation), and "generate exactly levels tokens, then EOS" stays the stopping rule;
 * - the official per-position constraint (allowed[i] = codes seen at level i) still works, and the
 *   prefix trie has all leaves at one depth: after `levels` tokens the only continuation is EOS;
 * - a suffix only on colliding items would also be prefix-free (their shared L-tuple is no item),
 *   but would need the trie to decide EOS-or-continue per node and mixes lengths in one beam.
 * The cost is one extra, nearly always 0, token per item, and only in runs that need it.
 */
import { BadInputError } from '../errors.js';
import { sinkhornAssign } from '../tensor/sinkhorn.js';

/** Bumped whenever a change alters the codes, so stage keys change with it. */
export const SEMID_VERSION = 'semid/1';

export const REPAIR_STRATEGIES = ['free-codes', 'official'] as const;
export type RepairStrategy = (typeof REPAIR_STRATEGIES)[number];

export interface CollisionRepairSettings {
  /** 'free-codes' (default) or 'official' (OFF:index/generate_indices.py exactly); see above. */
  strategy: RepairStrategy;
  /** Sinkhorn epsilon of the repair (official: the last level's sk_epsilon, 0.003). */
  epsilon: number;
  /** Most repair rounds (official: 20). 0 skips Sinkhorn: every collision gets the extra level. */
  maxRounds: number;
  /** Row/column normalisations per Sinkhorn call (official sk_iters: 50). */
  sinkhornIterations: number;
}

export const DEFAULT_REPAIR_SETTINGS: CollisionRepairSettings = { strategy: 'free-codes', epsilon: 0.003, maxRounds: 20, sinkhornIterations: 50 };

/** The last level's cost rows (items.length x K, row-major) of the given items. */
export type LastLevelCosts = (items: Int32Array) => Float32Array;

export interface CollisionStats {
  /** (items - distinct tuples) / items: the official collision rate. */
  collisionRate: number;
  distinctIds: number;
  /** Items that share their tuple with at least one other item. */
  collidingItems: number;
  groups: number;
  largestGroup: number;
}

export interface LevelUsage {
  level: number;
  size: number;
  used: number;
  /** exp(entropy) of the level's code distribution over items. */
  perplexity: number;
}

export interface CollisionReport {
  format: 'lcrec.collision_report/1';
  version: string;
  items: number;
  /** Levels of the RQ-VAE codes. */
  rqLevels: number;
  /** Levels of the final IDs: rqLevels, or rqLevels + 1 with the extra level. */
  levels: number;
  codebookSizes: number[];
  settings: CollisionRepairSettings;
  before: CollisionStats;
  afterSinkhorn: CollisionStats;
  final: CollisionStats;
  sinkhornRounds: number;
  /** 'no-collisions' (done), 'no-change' (a fixed point), 'max-rounds', or 'not-needed'. */
  stoppedBecause: 'not-needed' | 'no-collisions' | 'no-change' | 'max-rounds';
  /** Items whose last code differs from their argmin code. */
  itemsReassigned: number;
  extraLevel: {
    added: boolean;
    /** Items in groups that still collided after Sinkhorn (they got codes 0, 1, ...). */
    items: number;
    groups: number;
    /** Tokens of the extra level: the largest such group (0 when not added). */
    size: number;
    /** Of those groups, how many had identical cost rows (duplicate embeddings). */
    identicalCostGroups: number;
  };
  levelUsage: LevelUsage[];
}

export interface SemanticIdAssignment {
  /** items x levels, row-major, row = item_id. */
  codes: Int32Array;
  items: number;
  levels: number;
  /** Codes per level: the RQ-VAE's codebook sizes, then the extra level's size when added. */
  codebookSizes: number[];
  extraLevel: boolean;
  report: CollisionReport;
}

export interface AssignInput {
  /** items x rqLevels argmin codes, row-major, row = item_id. */
  codes: Int32Array;
  /** Codebook size of each RQ-VAE level. */
  codebookSizes: readonly number[];
  costs: LastLevelCosts;
  settings?: CollisionRepairSettings;
}

/** Settings out of range are bad input (a config that skipped validation): retrying cannot help. */
export function checkRepairSettings(s: CollisionRepairSettings): void {
  const fail = (field: keyof CollisionRepairSettings, why: string): never => {
    throw new BadInputError(why, { field: `semid.${field}` });
  };
  if (!(REPAIR_STRATEGIES as readonly string[]).includes(s.strategy)) fail('strategy', `must be one of ${REPAIR_STRATEGIES.join(', ')}, got ${s.strategy}`);
  if (!(s.epsilon > 0) || !Number.isFinite(s.epsilon)) fail('epsilon', `must be > 0, got ${s.epsilon}`);
  if (!Number.isInteger(s.maxRounds) || s.maxRounds < 0) fail('maxRounds', `must be an integer >= 0, got ${s.maxRounds}`);
  if (!Number.isInteger(s.sinkhornIterations) || s.sinkhornIterations < 1) fail('sinkhornIterations', `must be an integer >= 1, got ${s.sinkhornIterations}`);
}

export function assignSemanticIds(input: AssignInput): SemanticIdAssignment {
  const settings = input.settings ?? DEFAULT_REPAIR_SETTINGS;
  checkRepairSettings(settings);
  const sizes = [...input.codebookSizes];
  const levels = sizes.length;
  if (levels === 0 || !sizes.every((k) => Number.isInteger(k) && k > 0)) throw new RangeError(`codebook sizes must be positive integers, got [${sizes}]`);
  if (input.codes.length % levels !== 0) throw new RangeError(`${input.codes.length} codes are not a multiple of ${levels} levels`);
  const n = input.codes.length / levels;
  for (let i = 0; i < input.codes.length; i++) {
    const c = input.codes[i] as number;
    const k = sizes[i % levels] as number;
    if (!(c >= 0 && c < k)) throw new RangeError(`item ${Math.floor(i / levels)} has code ${c} at level ${i % levels}, outside 0..${k - 1}`);
  }
  const K = sizes[levels - 1] as number;
  const codes = Int32Array.from(input.codes);
  const last = levels - 1;
  const before = collisionStats(codes, n, levels);

  // Cost rows, fetched once per item (in one call per round) and reused.
  const rowOf = new Map<number, Float32Array>();
  const fetchRows = (groups: Int32Array[]): void => {
    const missing: number[] = [];
    for (const g of groups) for (const item of g) if (!rowOf.has(item)) missing.push(item);
    if (missing.length === 0) return;
    const ask = Int32Array.from(missing);
    const rows = input.costs(ask);
    if (rows.length !== ask.length * K) throw new RangeError(`costs returned ${rows.length} values for ${ask.length} items x ${K} codes`);
    ask.forEach((item, r) => {
      const row = rows.slice(r * K, (r + 1) * K);
      for (let k = 0; k < K; k++) {
        if (!Number.isFinite(row[k] as number)) throw new RangeError(`costs: item ${item}, code ${k} is ${row[k]}; costs must be finite`);
      }
      rowOf.set(item, row);
    });
  };
  const groupCosts = (g: Int32Array): Float32Array => {
    const m = new Float32Array(g.length * K);
    g.forEach((item, r) => m.set(rowOf.get(item) as Float32Array, r * K));
    return m;
  };

  const prefixKey = (item: number): string => codes.subarray(item * levels, item * levels + last).join(',');
  // free-codes: how many items use each last-level code under each prefix.
  const used = new Map<string, Int32Array>();
  if (settings.strategy === 'free-codes') {
    for (let i = 0; i < n; i++) {
      const key = prefixKey(i);
      let counts = used.get(key);
      if (!counts) used.set(key, (counts = new Int32Array(K)));
      const c = codes[i * levels + last] as number;
      counts[c] = (counts[c] as number) + 1;
    }
  }

  const setLast = (g: Int32Array, code: (r: number) => number): boolean => {
    let changed = false;
    g.forEach((item, r) => {
      const at = item * levels + last;
      const c = code(r);
      if (codes[at] !== c) {
        codes[at] = c;
        changed = true;
      }
    });
    return changed;
  };

  /** Sinkhorn for one group; returns whether a code changed. */
  const repairGroup = (g: Int32Array): boolean => {
    if (settings.strategy === 'official') {
      const assigned = sinkhornAssign(groupCosts(g), g.length, K, settings.epsilon, settings.sinkhornIterations);
      return setLast(g, (r) => assigned[r] as number);
    }
    if (identicalRows(g, rowOf)) return false;
    const counts = used.get(prefixKey(g[0] as number)) as Int32Array;
    const current = codes[(g[0] as number) * levels + last] as number;
    const free: number[] = [];
    for (let k = 0; k < K; k++) if (counts[k] === 0 || k === current) free.push(k); // the group alone holds `current`
    const full = groupCosts(g);
    const sub = new Float32Array(g.length * free.length);
    for (let r = 0; r < g.length; r++) for (let f = 0; f < free.length; f++) sub[r * free.length + f] = full[r * K + (free[f] as number)] as number;
    const assigned = sinkhornAssign(sub, g.length, free.length, settings.epsilon, settings.sinkhornIterations);
    counts[current] = (counts[current] as number) - g.length;
    const changed = setLast(g, (r) => free[assigned[r] as number] as number);
    for (const item of g) {
      const c = codes[item * levels + last] as number;
      counts[c] = (counts[c] as number) + 1;
    }
    return changed;
  };

  let rounds = 0;
  let stoppedBecause: CollisionReport['stoppedBecause'] = before.groups === 0 ? 'not-needed' : 'max-rounds';
  if (before.groups > 0) {
    for (;;) {
      const groups = collidingGroups(codes, n, levels);
      if (groups.length === 0) {
        stoppedBecause = 'no-collisions';
        break;
      }
      if (rounds >= settings.maxRounds) break;
      fetchRows(groups);
      let changed = false;
      for (const g of groups) if (repairGroup(g)) changed = true;
      rounds++;
      if (!changed) {
        stoppedBecause = 'no-change';
        break;
      }
    }
  }
  const afterSinkhorn = collisionStats(codes, n, levels);
  let itemsReassigned = 0;
  for (let i = 0; i < n; i++) if (codes[i * levels + last] !== input.codes[i * levels + last]) itemsReassigned++;

  // Extra level for what Sinkhorn could not separate.
  const remaining = collidingGroups(codes, n, levels);
  let final = codes;
  let finalLevels = levels;
  let extraSize = 0;
  let identicalCostGroups = 0;
  if (remaining.length > 0) {
    finalLevels = levels + 1;
    final = new Int32Array(n * finalLevels);
    for (let i = 0; i < n; i++) final.set(codes.subarray(i * levels, (i + 1) * levels), i * finalLevels);
    for (const g of remaining) {
      g.forEach((item, rank) => (final[item * finalLevels + levels] = rank)); // g is sorted by item id
      extraSize = Math.max(extraSize, g.length);
    }
    fetchRows(remaining);
    for (const g of remaining) if (identicalRows(g, rowOf)) identicalCostGroups++;
    sizes.push(extraSize);
  }
  const finalStats = collisionStats(final, n, finalLevels);
  if (finalStats.groups !== 0) throw new Error('assignSemanticIds: collisions remain after the extra level (a bug)');

  const report: CollisionReport = {
    format: 'lcrec.collision_report/1',
    version: SEMID_VERSION,
    items: n,
    rqLevels: levels,
    levels: finalLevels,
    codebookSizes: sizes,
    settings: { strategy: settings.strategy, epsilon: settings.epsilon, maxRounds: settings.maxRounds, sinkhornIterations: settings.sinkhornIterations },
    before,
    afterSinkhorn,
    final: finalStats,
    sinkhornRounds: rounds,
    stoppedBecause,
    itemsReassigned,
    extraLevel: {
      added: remaining.length > 0,
      items: remaining.reduce((a, g) => a + g.length, 0),
      groups: remaining.length,
      size: extraSize,
      identicalCostGroups,
    },
    levelUsage: levelUsage(final, n, sizes),
  };
  return { codes: final, items: n, levels: finalLevels, codebookSizes: sizes, extraLevel: remaining.length > 0, report };
}

/**
 * Groups of 2+ items with identical tuples; members sorted by item id, groups by their first
 * member. Sorting the items by tuple (ties by id) puts each group in one run.
 */
export function collidingGroups(codes: Int32Array, n: number, levels: number): Int32Array[] {
  const order = sortedByTuple(codes, n, levels);
  const runs: Int32Array[] = [];
  let start = 0;
  for (let i = 1; i <= n; i++) {
    if (i < n && compareTuples(codes, levels, order[i - 1] as number, order[i] as number) === 0) continue;
    if (i - start > 1) runs.push(order.slice(start, i)); // already in id order within the run
    start = i;
  }
  return runs.sort((a, b) => (a[0] as number) - (b[0] as number));
}

export function collisionStats(codes: Int32Array, n: number, levels: number): CollisionStats {
  const groups = collidingGroups(codes, n, levels);
  const collidingItems = groups.reduce((a, g) => a + g.length, 0);
  const distinctIds = n - collidingItems + groups.length;
  return {
    collisionRate: n === 0 ? 0 : round((n - distinctIds) / n),
    distinctIds,
    collidingItems,
    groups: groups.length,
    largestGroup: groups.reduce((a, g) => Math.max(a, g.length), 0),
  };
}

/** Item ids sorted by their code tuple, ties by id. */
export function sortedByTuple(codes: Int32Array, n: number, levels: number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  return order.sort((a, b) => compareTuples(codes, levels, a, b) || a - b);
}

function compareTuples(codes: Int32Array, levels: number, a: number, b: number): number {
  const oa = a * levels;
  const ob = b * levels;
  for (let l = 0; l < levels; l++) {
    const d = (codes[oa + l] as number) - (codes[ob + l] as number);
    if (d !== 0) return d;
  }
  return 0;
}

function identicalRows(g: Int32Array, rowOf: Map<number, Float32Array>): boolean {
  const first = rowOf.get(g[0] as number) as Float32Array;
  for (let m = 1; m < g.length; m++) {
    const row = rowOf.get(g[m] as number) as Float32Array;
    for (let k = 0; k < first.length; k++) if (row[k] !== first[k]) return false;
  }
  return true;
}

function levelUsage(codes: Int32Array, n: number, sizes: readonly number[]): LevelUsage[] {
  const levels = sizes.length;
  return sizes.map((size, level) => {
    const counts = new Int32Array(size);
    for (let i = 0; i < n; i++) {
      const c = codes[i * levels + level] as number;
      counts[c] = (counts[c] as number) + 1;
    }
    let used = 0;
    let entropy = 0;
    for (const c of counts) {
      if (c === 0) continue;
      used++;
      const p = c / n;
      entropy -= p * Math.log(p);
    }
    return { level, size, used, perplexity: round(Math.exp(entropy)) };
  });
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
