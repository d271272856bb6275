/** The baselines evaluated beside every result (SASRec joins once the tensor engine exists). */
export const BASELINE_MODELS = ['popularity', 'item-transition'] as const;
export type BaselineModel = (typeof BASELINE_MODELS)[number];
