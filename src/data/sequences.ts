import type { InteractionLog } from './interactionLog.js';

export interface SequenceOptions {
  /** Drop repeated (user, item) interactions, keeping the earliest. */
  dedupe: boolean;
  /** Iterative k-core threshold for users and items; 0 = off. */
  kCore: number;
  /** Users with fewer items are dropped at the end (leave-one-out needs at least 3). */
  minSequenceLength: number;
  /** Items that have metadata; interactions with other items are dropped. Undefined: keep all. */
  itemHasMetadata?: (item: number) => boolean;
}

export interface DropCounts {
  duplicates: number;
  missingMetadata: number;
  kCore: number;
  shortSequences: number;
}

/**
 * Users' chronological sequences after filtering, with new contiguous ids assigned in order of
 * first appearance (users in source order, items scanning those sequences in order).
 */
export interface SequenceSet {
  /** Log user index (interned source id) of each new user id. */
  userSource: Int32Array;
  /** Log item index of each new item id. */
  itemSource: Int32Array;
  /** Per new user id: new item ids in chronological order. */
  sequences: Int32Array[];
  /** Per new user id: timestamps aligned with `sequences`, or undefined when the source has none. */
  timestamps: Float64Array[] | undefined;
  dropped: DropCounts;
  kCoreRounds: number;
}

/**
 * Spec A.3: group by user, stable-sort by time (ties keep file order: the documented
 * tie-break), drop repeats keeping the earliest, drop items without metadata, iterative k-core,
 * then remap ids by first appearance.
 */
export function buildSequences(log: InteractionLog, opts: SequenceOptions): SequenceSet {
  const { user, item, time } = log.columns();
  const dropped: DropCounts = { duplicates: 0, missingMetadata: 0, kCore: 0, shortSequences: 0 };

  // Counting sort by user keeps file order inside each user (stable); users keep first-appearance order.
  const userCount = log.users.size;
  const start = new Int32Array(userCount + 1);
  for (let i = 0; i < user.length; i++) start[user[i]! + 1]!++;
  for (let u = 0; u < userCount; u++) start[u + 1]! += start[u]!;
  const fill = start.slice(0, userCount);
  const order = new Int32Array(user.length);
  for (let i = 0; i < user.length; i++) order[fill[user[i]!]!++] = i;

  // Per user: chronological (stable) order, dedupe, metadata filter.
  let seqs: Int32Array[] = new Array(userCount);
  for (let u = 0; u < userCount; u++) {
    const rows = Array.from(order.subarray(start[u]!, start[u + 1]!));
    if (log.hasTimestamps) rows.sort((a, b) => time[a]! - time[b]!);
    const seen = opts.dedupe ? new Set<number>() : undefined;
    const kept: number[] = [];
    for (const row of rows) {
      const it = item[row]!;
      if (seen) {
        if (seen.has(it)) {
          dropped.duplicates++;
          continue;
        }
        seen.add(it);
      }
      if (opts.itemHasMetadata && !opts.itemHasMetadata(it)) {
        dropped.missingMetadata++;
        continue;
      }
      kept.push(row);
    }
    seqs[u] = Int32Array.from(kept);
  }

  // Iterative k-core over users and items until a pass removes nothing.
  let rounds = 0;
  if (opts.kCore > 0) {
    const itemCount = new Int32Array(log.items.size);
    for (;;) {
      rounds++;
      itemCount.fill(0);
      for (const rows of seqs) for (const row of rows) itemCount[item[row]!]!++;
      let removed = 0;
      seqs = seqs.map((rows) => {
        if (rows.length === 0) return rows;
        if (rows.length < opts.kCore) {
          removed += rows.length;
          return new Int32Array(0);
        }
        const keep = rows.filter((row) => itemCount[item[row]!]! >= opts.kCore);
        removed += rows.length - keep.length;
        return keep;
      });
      dropped.kCore += removed;
      if (removed === 0) break;
    }
  }

  // Drop short sequences, then assign new ids by first appearance.
  const userSource: number[] = [];
  const itemNewId = new Int32Array(log.items.size).fill(-1);
  const itemSource: number[] = [];
  const sequences: Int32Array[] = [];
  const timestamps: Float64Array[] = [];
  for (let u = 0; u < userCount; u++) {
    const rows = seqs[u]!;
    if (rows.length < opts.minSequenceLength) {
      dropped.shortSequences += rows.length;
      continue;
    }
    userSource.push(u);
    const ids = new Int32Array(rows.length);
    const times = new Float64Array(rows.length);
    rows.forEach((row, i) => {
      const it = item[row]!;
      if (itemNewId[it] === -1) {
        itemNewId[it] = itemSource.length;
        itemSource.push(it);
      }
      ids[i] = itemNewId[it]!;
      times[i] = time[row]!;
    });
    sequences.push(ids);
    timestamps.push(times);
  }
  return {
    userSource: Int32Array.from(userSource),
    itemSource: Int32Array.from(itemSource),
    sequences,
    timestamps: log.hasTimestamps ? timestamps : undefined,
    dropped,
    kCoreRounds: rounds,
  };
}

/**
 * Formats whose ids are already 0-based indices (LC-Rec's `.inter.json`) keep them, so that
 * artifacts line up with files made by other tools for the same data. That is only possible when
 * the surviving ids are exactly 0..N-1; otherwise the first-appearance ids stand and this returns
 * undefined. `userGiven`/`itemGiven` map log indices to the source's numeric ids.
 */
export function withGivenIds(set: SequenceSet, userGiven: ArrayLike<number>, itemGiven: ArrayLike<number>): SequenceSet | undefined {
  const contiguous = (sources: Int32Array, given: ArrayLike<number>): Int32Array | undefined => {
    const byGiven = new Int32Array(sources.length).fill(-1);
    for (let id = 0; id < sources.length; id++) {
      const g = given[sources[id]!]!;
      if (!Number.isInteger(g) || g < 0 || g >= sources.length || byGiven[g] !== -1) return undefined;
      byGiven[g] = id;
    }
    return byGiven; // byGiven[givenId] = current id
  };
  const users = contiguous(set.userSource, userGiven);
  const items = contiguous(set.itemSource, itemGiven);
  if (!users || !items) return undefined;
  const itemRemap = new Int32Array(items.length);
  items.forEach((current, givenId) => (itemRemap[current] = givenId));
  return {
    ...set,
    userSource: users.map((current) => set.userSource[current]!),
    itemSource: items.map((current) => set.itemSource[current]!),
    sequences: Array.from(users, (current) => set.sequences[current]!.map((it) => itemRemap[it]!)),
    timestamps: set.timestamps && Array.from(users, (current) => set.timestamps![current]!),
  };
}
