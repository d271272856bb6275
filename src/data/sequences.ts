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
 *
 * Memory: everything lives in a few flat typed arrays over all interactions (rows grouped by
 * user, compacted in place by each filter), with no per-user allocation until the result, whose
 * per-user sequences are views into two shared buffers. Millions of interactions cost tens of
 * bytes each, not the kilobytes of per-user arrays, sets and copies.
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
  const rows = new Int32Array(user.length);
  for (let i = 0; i < user.length; i++) rows[fill[user[i]!]!++] = i;

  // Per user: chronological order (ties by row index, i.e. file order), dedupe, metadata filter,
  // compacting the kept rows to the left. `seenBy[item] === u` marks an item user u already has.
  const seenBy = new Int32Array(log.items.size).fill(-1);
  const byTime = (a: number, b: number) => time[a]! - time[b]! || a - b;
  let write = 0;
  for (let u = 0; u < userCount; u++) {
    const from = start[u]!;
    const to = start[u + 1]!;
    if (log.hasTimestamps && to - from > 1) rows.subarray(from, to).sort(byTime);
    start[u] = write;
    for (let r = from; r < to; r++) {
      const row = rows[r]!;
      const it = item[row]!;
      if (opts.dedupe) {
        if (seenBy[it] === u) {
          dropped.duplicates++;
          continue;
        }
        seenBy[it] = u;
      }
      if (opts.itemHasMetadata && !opts.itemHasMetadata(it)) {
        dropped.missingMetadata++;
        continue;
      }
      rows[write++] = row;
    }
  }
  start[userCount] = write;

  // Iterative k-core over users and items until a pass removes nothing.
  let rounds = 0;
  if (opts.kCore > 0) {
    const itemCount = new Int32Array(log.items.size);
    for (;;) {
      rounds++;
      itemCount.fill(0);
      for (let r = 0; r < start[userCount]!; r++) itemCount[item[rows[r]!]!]!++;
      let removed = 0;
      write = 0;
      for (let u = 0; u < userCount; u++) {
        const from = start[u]!;
        const to = start[u + 1]!;
        start[u] = write;
        if (to - from < opts.kCore) {
          removed += to - from;
          continue;
        }
        for (let r = from; r < to; r++) {
          const row = rows[r]!;
          if (itemCount[item[row]!]! >= opts.kCore) rows[write++] = row;
          else removed++;
        }
      }
      start[userCount] = write;
      dropped.kCore += removed;
      if (removed === 0) break;
    }
  }

  // Drop short sequences, then assign new ids by first appearance.
  const userSource: number[] = [];
  const itemNewId = new Int32Array(log.items.size).fill(-1);
  const itemSource: number[] = [];
  const total = start[userCount]!;
  const ids = new Int32Array(total);
  const times = new Float64Array(total);
  const sequences: Int32Array[] = [];
  const timestamps: Float64Array[] = [];
  let out = 0;
  for (let u = 0; u < userCount; u++) {
    const from = start[u]!;
    const to = start[u + 1]!;
    if (to - from < opts.minSequenceLength) {
      dropped.shortSequences += to - from;
      continue;
    }
    userSource.push(u);
    const first = out;
    for (let r = from; r < to; r++) {
      const row = rows[r]!;
      const it = item[row]!;
      if (itemNewId[it] === -1) {
        itemNewId[it] = itemSource.length;
        itemSource.push(it);
      }
      ids[out] = itemNewId[it]!;
      times[out++] = time[row]!;
    }
    sequences.push(ids.subarray(first, out));
    timestamps.push(times.subarray(first, out));
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
