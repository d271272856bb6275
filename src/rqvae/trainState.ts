/**
 * Everything a resumed RQ-VAE run needs to continue exactly where the saved one was: weights, AdamW
 * moments and step, the shuffle Rng and the data cursor, the evaluations so far and the weights
 * the selection rule keeps. A plain object (typed arrays + JSON) the caller may persist anywhere;
 * checkpointFiles.ts writes it as safetensors + a JSON sidecar.
 */
import type { WritableTensor } from '../tensor/safetensors.js';
import type { RngState } from '../tensor/rng.js';
import { canonicalJson } from '../util/canonical.js';
import type { AdamW } from './adamw.js';
import type { CodebookInitReport } from './codebookInit.js';
import type { RqvaeEvaluation } from './evaluate.js';
import type { Rqvae } from './model.js';
import type { RqvaeSettings } from './settings.js';

export const TRAINING_STATE_FORMAT = 'lcrec-rqvae-training/1';

export interface RqvaeTrainingMeta {
  format: typeof TRAINING_STATE_FORMAT;
  settings: RqvaeSettings;
  inputDim: number;
  rows: number;
  /** Optimiser steps done. */
  step: number;
  /** Data cursor: the epoch (0-based) in progress and the batches of it already done. */
  epoch: number;
  position: number;
  /** The shuffle Rng just before it drew epoch `epoch`'s permutation (the permutation is redrawn on resume). */
  rng: RngState;
  /** Sum of the training losses of the current epoch's finished batches (for the epoch's mean). */
  epochLossSum: number;
  evaluations: RqvaeEvaluation[];
  /** The evaluation the selection rule keeps; its weights are the `best.*` tensors. */
  best: RqvaeEvaluation | null;
  codebookInit: CodebookInitReport | null;
}

export interface RqvaeTrainingState {
  /**
   * `model.<name>`: current weights; `adam.m.<name>`, `adam.v.<name>`: AdamW moments;
   * `best.<name>`: the selected weights (absent until the first evaluation).
   */
  tensors: Record<string, WritableTensor>;
  meta: RqvaeTrainingMeta;
}

/** Throws when a saved state cannot continue this run (other settings, data shape or format). */
export function assertStateMatches(state: RqvaeTrainingState, settings: RqvaeSettings, rows: number, inputDim: number): void {
  const m = state.meta;
  if (m.format !== TRAINING_STATE_FORMAT) throw new Error(`RQ-VAE checkpoint has format ${String(m.format)}, expected ${TRAINING_STATE_FORMAT}`);
  if (m.rows !== rows || m.inputDim !== inputDim) throw new Error(`RQ-VAE checkpoint was trained on ${m.rows} x ${m.inputDim} embeddings, not ${rows} x ${inputDim}`);
  if (canonicalJson(m.settings) !== canonicalJson(settings)) throw new Error('RQ-VAE checkpoint was written with other settings; it cannot resume this run');
}

/** Where the data stream stands: the next batch is batch `position` of epoch `epoch`. */
export interface DataCursor {
  epoch: number;
  position: number;
  /** The shuffle Rng before it drew this epoch's permutation. */
  rng: RngState;
  epochLossSum: number;
}

/** What training has produced so far besides the weights. */
export interface TrainingRecord {
  evaluations: RqvaeEvaluation[];
  /** The evaluation the selection rule keeps, with a copy of its weights. */
  best: { evaluation: RqvaeEvaluation; weights: Record<string, WritableTensor> } | undefined;
  codebookInit: CodebookInitReport | null;
}

export function captureState(model: Rqvae, optimizer: AdamW, cursor: DataCursor, record: TrainingRecord, rows: number): RqvaeTrainingState {
  const tensors: Record<string, WritableTensor> = {};
  for (const [name, t] of Object.entries(model.weights())) tensors[`model.${name}`] = t;
  const moments = optimizer.moments();
  model.namedVariables().forEach(([name, v], i) => {
    tensors[`adam.m.${name}`] = { shape: v.shape, data: moments.m[i]! };
    tensors[`adam.v.${name}`] = { shape: v.shape, data: moments.v[i]! };
  });
  if (record.best) for (const [name, t] of Object.entries(record.best.weights)) tensors[`best.${name}`] = t;
  return {
    tensors,
    meta: {
      format: TRAINING_STATE_FORMAT,
      settings: model.settings,
      inputDim: model.config.inputDim,
      rows,
      step: optimizer.step,
      epoch: cursor.epoch,
      position: cursor.position,
      rng: cursor.rng,
      epochLossSum: cursor.epochLossSum,
      evaluations: record.evaluations,
      best: record.best?.evaluation ?? null,
      codebookInit: record.codebookInit,
    },
  };
}

/** Loads a saved state's weights and moments into `model` and `optimizer`; returns the rest. */
export function restoreState(state: RqvaeTrainingState, model: Rqvae, optimizer: AdamW, rows: number): { cursor: DataCursor; record: TrainingRecord } {
  assertStateMatches(state, model.settings, rows, model.config.inputDim);
  const names = model.namedVariables().map(([name]) => name);
  model.loadWeights(prefixed(state.tensors, 'model.'));
  optimizer.load({
    step: state.meta.step,
    m: names.map((name) => floatTensor(state.tensors, `adam.m.${name}`)),
    v: names.map((name) => floatTensor(state.tensors, `adam.v.${name}`)),
  });
  const { epoch, position, rng, epochLossSum, evaluations, best, codebookInit } = state.meta;
  return {
    cursor: { epoch, position, rng, epochLossSum },
    record: { evaluations, best: best ? { evaluation: best, weights: prefixed(state.tensors, 'best.') } : undefined, codebookInit },
  };
}

function prefixed(tensors: Record<string, WritableTensor>, prefix: string): Record<string, WritableTensor> {
  const out: Record<string, WritableTensor> = {};
  for (const [name, t] of Object.entries(tensors)) if (name.startsWith(prefix)) out[name.slice(prefix.length)] = t;
  return out;
}

function floatTensor(tensors: Record<string, WritableTensor>, name: string): Float32Array {
  const t = tensors[name];
  if (!t || !(t.data instanceof Float32Array)) throw new Error(`RQ-VAE checkpoint lacks float32 tensor '${name}'`);
  return t.data;
}
