import type { Popularity } from './popularity.js';
import type { Recommender } from './recommender.js';

/**
 * First-order item transitions: counts of `a -> b` over consecutive items of the training part.
 * Recommends the most frequent successors of the last history item (ties: more popular first,
 * then lower id), then fills up to K with popular items not yet recommended.
 */
export function itemTransitionRecommender(train: Int32Array[], pop: Popularity): Recommender {
  const counts = new Map<number, Map<number, number>>();
  for (const seq of train) {
    for (let i = 1; i < seq.length; i++) {
      const from = seq[i - 1]!;
      let next = counts.get(from);
      if (!next) counts.set(from, (next = new Map()));
      next.set(seq[i]!, (next.get(seq[i]!) ?? 0) + 1);
    }
  }
  const successors = new Map<number, { items: Int32Array; counts: Int32Array }>();
  for (const [from, next] of counts) {
    const ranked = [...next.entries()].sort((a, b) => b[1] - a[1] || pop.counts[b[0]]! - pop.counts[a[0]]! || a[0] - b[0]);
    successors.set(from, { items: Int32Array.from(ranked, ([item]) => item), counts: Int32Array.from(ranked, ([, c]) => c) });
  }
  return {
    name: 'item-transition',
    recommend(history, k) {
      const items: number[] = [];
      const scores: number[] = [];
      const next = history.length > 0 ? successors.get(history[history.length - 1]!) : undefined;
      for (let i = 0; next && i < next.items.length && items.length < k; i++) {
        items.push(next.items[i]!);
        scores.push(next.counts[i]!);
      }
      const taken = new Set(items);
      // Popular fill-ups score below every observed transition (which counts at least 1).
      for (let i = 0; i < pop.order.length && items.length < k; i++) {
        const item = pop.order[i]!;
        if (taken.has(item)) continue;
        items.push(item);
        scores.push(pop.counts[item]! / (pop.counts[pop.order[0]!]! + 1));
      }
      return { items: Int32Array.from(items), scores: Float64Array.from(scores) };
    },
  };
}
