/**
 * Deterministic user shards. Users are cut into blocks of `align` (the evaluation's
 * length-sorting window, generative.ts): block b = users [b * align, (b + 1) * align). Shard s of
 * n holds the contiguous blocks [floor(s * B / n), floor((s + 1) * B / n)) of the B blocks. So
 * every shard decodes exactly the batches that one shard would: a real model's logits may depend
 * (in the last float bits) on which prompts share a batch, and aligned shards keep even those
 * bits identical. The
 * merge concatenates shards in order, so any n gives the rows of n = 1 in the same order.
 */
export interface UserRange {
  from: number;
  to: number;
}

export function shardRange(users: number, shard: number, shards: number, align = 1): UserRange {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shard count must be a positive integer, got ${shards}`);
  if (!Number.isInteger(shard) || shard < 0 || shard >= shards) throw new RangeError(`shard ${shard} is not in 0..${shards - 1}`);
  if (!Number.isInteger(users) || users < 0) throw new RangeError(`user count must be a non-negative integer, got ${users}`);
  if (!Number.isInteger(align) || align < 1) throw new RangeError(`alignment must be a positive integer, got ${align}`);
  const batches = Math.ceil(users / align);
  const edge = (s: number) => Math.min(users, Math.floor((s * batches) / shards) * align);
  return { from: edge(shard), to: edge(shard + 1) };
}
