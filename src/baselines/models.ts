/** The baselines evaluated beside every result. */
export const BASELINE_MODELS = ['popularity', 'item-transition', 'sasrec'] as const;
export type BaselineModel = (typeof BASELINE_MODELS)[number];
