/**
 * Deterministic user shards: shard s of n holds the contiguous users
 * [floor(s * users / n), floor((s + 1) * users / n)). Contiguous ranges make the merge a
 * concatenation in shard order, so any n gives the rows of n = 1 in the same order.
 */
export interface UserRange {
  from: number;
  to: number;
}

export function shardRange(users: number, shard: number, shards: number): UserRange {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shard count must be a positive integer, got ${shards}`);
  if (!Number.isInteger(shard) || shard < 0 || shard >= shards) throw new RangeError(`shard ${shard} is not in 0..${shards - 1}`);
  if (!Number.isInteger(users) || users < 0) throw new RangeError(`user count must be a non-negative integer, got ${users}`);
  return { from: Math.floor((shard * users) / shards), to: Math.floor(((shard + 1) * users) / shards) };
}
