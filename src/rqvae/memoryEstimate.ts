/**
 * Peak bytes of live tensors during RQ-VAE training, for checkMemory before anything is allocated.
 * An upper-side estimate per phase (the engine frees between phases); embeddings stay host-side
 * and only batches enter the engine.
 */
import type { RqvaeSettings } from './settings.js';

const F32 = 4;

export function rqvaeTrainingBytes(s: RqvaeSettings, inputDim: number, rows: number): number {
  const widths = [inputDim, ...s.hiddenWidths, s.latentDim];
  let params = s.levels * s.codebookSize * s.latentDim;
  for (let i = 1; i < widths.length; i++) params += 2 * widths[i - 1]! * widths[i]! + (s.bias ? widths[i - 1]! + widths[i]! : 0);
  // weights, gradients, two AdamW moments, the update's temporaries
  const optimiser = params * 5 * F32;
  const widthSum = 2 * widths.reduce((a, b) => a + b, 0);
  const perItemTraining = widthSum * 6 + s.levels * (s.codebookSize * 3 + s.latentDim * 8);
  const training = s.batchSize * perItemTraining * F32;
  // inference batches (evaluation, k-means sample encoding), forward only
  const inference = Math.min(s.inferenceBatchSize, rows) * (widthSum * 2 + s.levels * s.codebookSize * 2) * F32;
  // k-means: one [8192, K] distance chunk plus the sample's points
  const kmeans = (Math.min(8192, rows) * s.codebookSize * 3 + Math.min(s.kmeansSamples, rows) * s.latentDim * 2) * F32;
  return optimiser + Math.max(training, inference, kmeans);
}
