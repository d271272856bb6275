/** The RQ-VAE stage's library (spec C): import from here. */
export { GENREC_RQVAE, OFFICIAL_RQVAE, RQVAE_PRESETS, validateRqvaeSettings } from './settings.js';
export type { RqvaeSettings, Activation, WeightInit, LossScaling, CodebookInit, KMeansSeeding } from './settings.js';
export { Rqvae } from './model.js';
export type { RqvaeConfig, RqvaeOutput, Quantized, Assignment } from './model.js';
export { trainRqvae } from './train.js';
export type { TrainRqvaeOptions, RqvaeCheckpointing, RqvaeTrainingResult } from './train.js';
export type { RqvaeTrainingState, RqvaeTrainingMeta } from './trainState.js';
export { writeCheckpointDir, readCheckpointDir, writeModelDir, readModelDir } from './checkpointFiles.js';
export { encodeCodes, encodeLatents, lastLevelDistances } from './codes.js';
export { codeMetrics } from './metrics.js';
export type { CodeMetrics } from './metrics.js';
export { evaluateRqvae, isBetterEvaluation } from './evaluate.js';
export type { RqvaeEvaluation } from './evaluate.js';
export { kmeans, quantizationError, nearestCentroids } from './kmeans.js';
export { sinkhornAssignScaling } from './sinkhornScaling.js';
export { rqvaeTrainingBytes } from './memoryEstimate.js';
