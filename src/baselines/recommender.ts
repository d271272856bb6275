/** A top-K recommender over item ids, as every baseline and the LLM's evaluation see it. */
export interface Recommendation {
  /** Recommended item ids, best first. */
  items: Int32Array;
  /** The model's own score of each item (higher is better); only the order is comparable across models. */
  scores: Float64Array;
}

export interface Recommender {
  name: string;
  recommend(history: Int32Array, k: number): Recommendation;
  /** Many users at once, for models that score in batches (neural models). */
  recommendMany?(histories: Int32Array[], k: number): Recommendation[];
}
