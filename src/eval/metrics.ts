/**
 * Full-ranking leave-one-out metrics with one target per user (spec G):
 *   rank = 0-based position of the target in the recommended list (absent: no hit)
 *   Recall@K = 1[rank < K]              (equal to HR@K with a single target)
 *   NDCG@K   = 1 / log2(rank + 2) if rank < K, else 0   (the ideal DCG of one target is 1)
 * Both are averaged over users. K = 1, 5, 10.
 * For the generative model the list is the finished beams, best first (at most the beam width;
 * every one a distinct existing item), so "full ranking" means no sampled negatives: every item
 * can be generated. With several prompt templates each template is averaged over users first and
 * the templates' figures are then averaged (LC-Rec's protocol, spec G.1): `summarizeTemplates`.
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

/** The metrics of one list of target ranks (-1: not recommended), accumulated in order. */
export function metricsFromRanks(ranks: ArrayLike<number>): Metrics {
  const acc = new MetricsAccumulator();
  for (let i = 0; i < ranks.length; i++) acc.add(ranks[i] as number);
  return acc.result();
}

/** Mean, min and max of each metric over templates (in the given order); `users` is per template. */
export function summarizeTemplates(perTemplate: readonly Metrics[]): { mean: Metrics; min: Metrics; max: Metrics } {
  if (perTemplate.length === 0) throw new RangeError('no templates to summarise');
  const pick = (f: (values: number[]) => number) => {
    const out = { users: perTemplate[0]!.users } as Metrics;
    for (const k of CUTOFFS) {
      out[`recall@${k}`] = f(perTemplate.map((m) => m[`recall@${k}`]));
      out[`ndcg@${k}`] = f(perTemplate.map((m) => m[`ndcg@${k}`]));
    }
    return out;
  };
  return {
    mean: pick((v) => v.reduce((a, b) => a + b, 0) / v.length),
    min: pick((v) => Math.min(...v)),
    max: pick((v) => Math.max(...v)),
  };
}
