import type { Recommender } from './recommender.js';

/** Item counts over the training part, and the items ordered by count (desc), then id (asc). */
export interface Popularity {
  counts: Int32Array;
  order: Int32Array;
}

export function countPopularity(train: Int32Array[], numItems: number): Popularity {
  const counts = new Int32Array(numItems);
  for (const seq of train) for (const item of seq) counts[item]!++;
  const order = Int32Array.from({ length: numItems }, (_, i) => i).sort((a, b) => counts[b]! - counts[a]! || a - b);
  return { counts, order };
}

/** Recommends the most frequent training items to everyone. */
export function popularityRecommender(pop: Popularity): Recommender {
  return {
    name: 'popularity',
    recommend(_history, k) {
      const items = pop.order.slice(0, k);
      return { items, scores: Float64Array.from(items, (i) => pop.counts[i]!) };
    },
  };
}
