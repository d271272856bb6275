/**
 * Full-ranking leave-one-out metrics with one target per user (spec G):
 *   rank = 0-based position of the target in the recommended list (absent: no hit)
 *   Recall@K = 1[rank < K]              (equal to HR@K with a single target)
 *   NDCG@K   = 1 / log2(rank + 2) if rank < K, else 0   (the ideal DCG of one target is 1)
 * Both are averaged over users. K = 1, 5, 10.
 */
export const CUTOFFS = [1, 5, 10] as const;

export type MetricName = `recall@${(typeof CUTOFFS)[number]}` | `ndcg@${(typeof CUTOFFS)[number]}`;
export type Metrics = Record<MetricName, number> & { users: number };

export class MetricsAccumulator {
  private readonly recall = new Float64Array(CUTOFFS.length);
  private readonly ndcg = new Float64Array(CUTOFFS.length);
  private users = 0;

  /** Records one user's result: the target's 0-based rank, or -1 when it was not recommended. */
  add(rank: number): void {
    this.users++;
    if (rank < 0) return;
    CUTOFFS.forEach((k, i) => {
      if (rank < k) {
        this.recall[i]! += 1;
        this.ndcg[i]! += 1 / Math.log2(rank + 2);
      }
    });
  }

  result(): Metrics {
    const out = { users: this.users } as Metrics;
    CUTOFFS.forEach((k, i) => {
      out[`recall@${k}`] = this.users ? this.recall[i]! / this.users : 0;
      out[`ndcg@${k}`] = this.users ? this.ndcg[i]! / this.users : 0;
    });
    return out;
  }
}

/** Rank of `target` in `ranked` (0-based), or -1. */
export function rankOf(ranked: ArrayLike<number>, target: number): number {
  for (let i = 0; i < ranked.length; i++) if (ranked[i] === target) return i;
  return -1;
}
