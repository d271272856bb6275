/**
 * Periodic evaluation on all items with argmin codes at every level (spec C.3, as both trainers
 * do it), and the rule that picks which evaluated weights the stage keeps.
 */
import { forEachItemBatch } from './codes.js';
import { reconstructionErrors } from './losses.js';
import { codeMetrics } from './metrics.js';
import type { CodeMetrics } from './metrics.js';
import type { Rqvae } from './model.js';

export interface RqvaeEvaluation extends CodeMetrics {
  epoch: number;
  step: number;
  /** Mean reconstruction loss per item, in the training loss's scaling, with argmin codes. */
  reconLoss: number;
}

export function evaluateRqvae(model: Rqvae, embeddings: Float32Array, epoch: number, step: number): RqvaeEvaluation {
  const { levels, codebookSize, lossScaling, inferenceBatchSize } = model.settings;
  const rows = embeddings.length / model.config.inputDim;
  const codes = new Int32Array(rows * levels);
  let reconSum = 0;
  forEachItemBatch(model, embeddings, undefined, inferenceBatchSize, (x, start, count) => {
    const out = model.assignCodes(model.encode(x), 'argmin');
    const errors = reconstructionErrors(model.decode(out.quantized), x, lossScaling).dataSync();
    for (let i = 0; i < count; i++) {
      reconSum += errors[i] as number;
      for (let l = 0; l < levels; l++) codes[(start + i) * levels + l] = out.codes[l]![i]!;
    }
  });
  return { epoch, step, reconLoss: reconSum / rows, ...codeMetrics(codes, levels, codebookSize) };
}

/**
 * The selection rule. Candidates: the evaluations at epoch >= selectFromFraction * epochs, and
 * the last one (isSelectionCandidate). Among them: fewest colliding tuples first (the lowest
 * collision rate), then the lower reconstruction loss, then the later evaluation.
 * Why: the semantic-ID stage needs unique tuples; every collision left here must be repaired by
 * re-assigning the last level, which moves items away from their nearest code, so collisions are
 * what the official trainer selects on (best_collision_model). But straight after k-means
 * initialisation the codes are spread widely while the reconstruction is poor, and collisions
 * often rise as the encoder learns to drop noise; hence only the second part of training competes,
 * as the authors pick epoch 5,000 of 10,000 (official) and 2,000 of 5,000 (genrec). Collision
 * counts tie often (small integers), and then the better reconstruction keeps more of the
 * embedding's meaning in the codes; a later evaluation wins exact ties because it trained longer.
 */
export function isSelectionCandidate(evaluation: RqvaeEvaluation, epochs: number, selectFromFraction: number): boolean {
  return evaluation.epoch >= selectFromFraction * epochs || evaluation.epoch === epochs;
}

/** True when `candidate` should replace `incumbent` as the kept evaluation (the rule above, among candidates). */
export function isBetterEvaluation(candidate: RqvaeEvaluation, incumbent: RqvaeEvaluation | undefined): boolean {
  if (incumbent === undefined) return true;
  const a = candidate.items - candidate.distinctTuples;
  const b = incumbent.items - incumbent.distinctTuples;
  if (a !== b) return a < b;
  if (candidate.reconLoss !== incumbent.reconLoss) return candidate.reconLoss < incumbent.reconLoss;
  return candidate.step > incumbent.step;
}
