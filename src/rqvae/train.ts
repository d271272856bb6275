/**
 * RQ-VAE training (spec C): k-means codebook initialisation, then `epochs` passes over the items
 * shuffled per epoch, AdamW with linear warm-up/decay and global-norm clipping, an evaluation every
 * `evalEvery` epochs, and the selection rule of evaluate.ts deciding which weights are returned.
 * Checkpoints every `checkpoint.every` steps (and after the last) resume bit-for-bit on the same
 * backend. Steps yield to the event loop so a Temporal activity keeps heartbeating.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { ProgressSink } from '../data/itemText.js';
import { BadInputError } from '../errors.js';
import { tf } from '../tensor/backend.js';
import { initTensorEngine } from '../tensor/init.js';
import { checkMemory } from '../tensor/memory.js';
import { Rng, deriveSeed } from '../tensor/rng.js';
import { AdamW } from './adamw.js';
import { initCodebooksByKMeans } from './codebookInit.js';
import type { CodebookInitReport } from './codebookInit.js';
import { evaluateRqvae, isBetterEvaluation, isSelectionCandidate } from './evaluate.js';
import type { RqvaeEvaluation } from './evaluate.js';
import { rqvaeTrainingBytes } from './memoryEstimate.js';
import { Rqvae } from './model.js';
import { linearWarmupDecay } from './schedule.js';
import { validateRqvaeSettings } from './settings.js';
import type { RqvaeSettings } from './settings.js';
import { trainingStep } from './step.js';
import { captureState, restoreState } from './trainState.js';
import type { DataCursor, RqvaeTrainingState, TrainingRecord } from './trainState.js';

export interface RqvaeCheckpointing {
  /** Save after every this many optimiser steps (and after the last step). */
  every: number;
  save(state: RqvaeTrainingState): Promise<void>;
  /** The newest complete saved state, or undefined to start fresh. */
  load(): Promise<RqvaeTrainingState | undefined>;
}

export interface TrainRqvaeOptions {
  /** The stage's seed; weight init, k-means and shuffling each derive their own stream from it. */
  seed: number;
  signal?: AbortSignal;
  onProgress?: ProgressSink;
  onEvaluation?: (evaluation: RqvaeEvaluation) => void;
  log?: (line: string) => void;
  checkpoint?: RqvaeCheckpointing;
}

export interface RqvaeTrainingResult {
  /** The model holding the selected weights (isBetterEvaluation); the caller disposes it. */
  model: Rqvae;
  selected: RqvaeEvaluation;
  evaluations: RqvaeEvaluation[];
  steps: number;
  /** Step of the checkpoint this run resumed from; null when it started fresh. */
  resumedFromStep: number | null;
  codebookInit: CodebookInitReport | null;
  seconds: number;
}

export async function trainRqvae(embeddings: Float32Array, rows: number, dim: number, settings: RqvaeSettings, opts: TrainRqvaeOptions): Promise<RqvaeTrainingResult> {
  validateRqvaeSettings(settings);
  validateEmbeddings(embeddings, rows, dim);
  const backend = await initTensorEngine();
  checkMemory(rqvaeTrainingBytes(settings, dim, rows), backend, 'RQ-VAE training');
  const started = performance.now();
  const log = opts.log ?? (() => {});

  const model = new Rqvae({ inputDim: dim, settings }, new Rng(deriveSeed(opts.seed, 'rqvae/init')));
  const params = model.namedVariables();
  const optimizer = new AdamW(
    params.map(([, v]) => v),
    { beta1: settings.adamBeta1, beta2: settings.adamBeta2, epsilon: settings.adamEpsilon, weightDecay: settings.weightDecay },
  );
  try {
    const stepsPerEpoch = Math.ceil(rows / settings.batchSize);
    const totalSteps = settings.epochs * stepsPerEpoch;
    const warmupSteps = settings.warmupEpochs * stepsPerEpoch;

    // Fresh start (k-means codebooks) or resume from the newest checkpoint.
    let shuffle = new Rng(deriveSeed(opts.seed, 'rqvae/shuffle'));
    let cursor: DataCursor = { epoch: 0, position: 0, rng: shuffle.state(), epochLossSum: 0 };
    let record: TrainingRecord = { evaluations: [], best: undefined, codebookInit: null };
    const saved = await opts.checkpoint?.load();
    if (saved) {
      ({ cursor, record } = restoreState(saved, model, optimizer, rows));
      shuffle = Rng.fromState(cursor.rng);
      log(`rqvae: resumed at step ${saved.meta.step} (epoch ${cursor.epoch + 1}, batch ${cursor.position})`);
    } else if (settings.codebookInit === 'kmeans') {
      record.codebookInit = await initCodebooksByKMeans(model, embeddings, new Rng(deriveSeed(opts.seed, 'rqvae/kmeans')), opts);
      log(`rqvae: k-means codebooks from ${record.codebookInit.samples} items (${record.codebookInit.levels.map((l) => l.iterations).join('/')} Lloyd iterations)`);
    }
    const resumedFromStep = saved ? saved.meta.step : null;
    const permutation = () => shuffle.shuffle(Int32Array.from({ length: rows }, (_, i) => i));
    let order = cursor.epoch < settings.epochs ? permutation() : new Int32Array(0);

    const batch = new Float32Array(settings.batchSize * dim);
    let savedStep = saved ? saved.meta.step : -1;
    while (cursor.epoch < settings.epochs) {
      if (opts.signal?.aborted) {
        // Cancelled between two steps: leave a checkpoint at exactly this step, so a resume loses nothing.
        if (opts.checkpoint && optimizer.step !== savedStep) await opts.checkpoint.save(captureState(model, optimizer, cursor, record, rows));
        opts.signal.throwIfAborted();
      }
      const from = cursor.position * settings.batchSize;
      const count = Math.min(settings.batchSize, rows - from);
      for (let i = 0; i < count; i++) {
        const item = order[from + i]!;
        batch.set(embeddings.subarray(item * dim, (item + 1) * dim), i * dim);
      }
      const lr = settings.learningRate * linearWarmupDecay(optimizer.step, warmupSteps, totalSteps);
      const x = tf.tensor2d(batch.subarray(0, count * dim), [count, dim]);
      const result = trainingStep(model, optimizer, x, lr);
      x.dispose();
      if (!Number.isFinite(result.loss)) throw new Error(`RQ-VAE loss became ${result.loss} at step ${optimizer.step} (epoch ${cursor.epoch + 1})`);
      cursor.epochLossSum += result.loss;
      cursor.position++;

      const epochDone = cursor.position === stepsPerEpoch;
      if (epochDone) {
        const finished = cursor.epoch + 1;
        if (finished % settings.evalEvery === 0 || finished === settings.epochs) {
          const evaluation = evaluateRqvae(model, embeddings, finished, optimizer.step);
          record.evaluations = [...record.evaluations, evaluation];
          if (isSelectionCandidate(evaluation, settings.epochs, settings.selectFromFraction) && isBetterEvaluation(evaluation, record.best?.evaluation)) {
            record.best = { evaluation, weights: model.weights() };
          }
          log(
            `rqvae epoch ${finished}: train loss ${(cursor.epochLossSum / stepsPerEpoch).toFixed(5)}  recon ${evaluation.reconLoss.toFixed(5)}  ` +
              `collisions ${(evaluation.collisionRate * 100).toFixed(2)}%  usage ${evaluation.usage.map((u) => u.toFixed(2)).join('/')}`,
          );
          opts.onEvaluation?.(evaluation);
        }
        // The next epoch starts here: its permutation is drawn from the Rng as it is now.
        cursor = { epoch: finished, position: 0, rng: shuffle.state(), epochLossSum: 0 };
        if (cursor.epoch < settings.epochs) order = permutation();
      }
      if (opts.checkpoint && (optimizer.step % opts.checkpoint.every === 0 || optimizer.step === totalSteps)) {
        await opts.checkpoint.save(captureState(model, optimizer, cursor, record, rows));
        savedStep = optimizer.step;
      }
      opts.onProgress?.({ phase: `rqvae epoch ${Math.min(cursor.epoch + 1, settings.epochs)}/${settings.epochs}`, done: optimizer.step, total: totalSteps });
      await yieldToEventLoop();
    }

    const best = record.best;
    if (!best) throw new Error('RQ-VAE training ended without an evaluation');
    model.loadWeights(best.weights);
    log(`rqvae: kept the weights of epoch ${best.evaluation.epoch} (collision rate ${(best.evaluation.collisionRate * 100).toFixed(2)}%, recon ${best.evaluation.reconLoss.toFixed(5)})`);
    return {
      model,
      selected: best.evaluation,
      evaluations: record.evaluations,
      steps: optimizer.step,
      resumedFromStep,
      codebookInit: record.codebookInit,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

function validateEmbeddings(embeddings: Float32Array, rows: number, dim: number): void {
  if (!Number.isInteger(rows) || !Number.isInteger(dim) || rows < 1 || dim < 1) throw new BadInputError(`embeddings must be at least 1 x 1, got ${rows} x ${dim}`);
  if (embeddings.length !== rows * dim) throw new BadInputError(`embeddings hold ${embeddings.length} values, not ${rows} x ${dim}`);
  for (let i = 0; i < embeddings.length; i++) {
    if (!Number.isFinite(embeddings[i])) throw new BadInputError(`embedding row ${Math.floor(i / dim)}, column ${i % dim} is ${embeddings[i]}`);
  }
}
