import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProgressSink } from '../data/itemText.js';
import { readItemEmbeddings } from '../embed/writeEmbeddings.js';
import { readCheckpointDir, writeCheckpointDir, writeModelDir } from './checkpointFiles.js';
import type { RqvaeSettings } from './settings.js';
import { trainRqvae, type RqvaeCheckpointing } from './train.js';

/** Part of the stage key: bump when a change alters what the stage writes. */
export const RQVAE_CODE_VERSION = 'rqvae/1';
export const TRAINING_REPORT = 'training_report.json';

export interface RqvaeStageOptions {
  seed: number;
  /** Where training checkpoints go; a later attempt that finds one there resumes from it. */
  checkpointDir?: string;
  /** Optimiser steps between checkpoints. */
  checkpointEvery?: number;
  /** Checkpointing of the caller's own (e.g. local directory + artifact store); wins over checkpointDir. */
  checkpoint?: RqvaeCheckpointing;
  signal?: AbortSignal;
  onProgress?: ProgressSink;
  log?: (line: string) => void;
}

/**
 * The RQ-VAE stage: item_embeddings.safetensors -> the selected model (model.safetensors +
 * rqvae.json) and training_report.json (every evaluation: reconstruction loss, collision rate,
 * per-level usage and perplexity; the k-means initialisation; the evaluation kept and why).
 */
export async function runRqvaeStage(embeddingsPath: string, outDir: string, settings: RqvaeSettings, opts: RqvaeStageOptions) {
  await mkdir(outDir, { recursive: true });
  const { embeddings, count, dim } = await readItemEmbeddings(embeddingsPath);
  const checkpointDir = opts.checkpointDir;
  const result = await trainRqvae(embeddings, count, dim, settings, {
    seed: opts.seed,
    signal: opts.signal,
    onProgress: opts.onProgress,
    log: opts.log,
    checkpoint: opts.checkpoint ?? (checkpointDir
      ? { every: opts.checkpointEvery ?? 100, save: (state) => writeCheckpointDir(checkpointDir, state), load: () => readCheckpointDir(checkpointDir) }
      : undefined),
  });
  try {
    await writeModelDir(outDir, result.model);
    const report = {
      selected: result.selected,
      selectionRule: 'fewest collisions, then lower reconstruction loss, among evaluations in the last half of training and the last one',
      evaluations: result.evaluations,
      codebookInit: result.codebookInit,
      steps: result.steps,
      resumedFromStep: result.resumedFromStep,
      seconds: result.seconds,
    };
    await writeFile(join(outDir, TRAINING_REPORT), `${JSON.stringify(report, null, 2)}\n`);
    const { selected } = result;
    return {
      epoch: selected.epoch,
      reconLoss: selected.reconLoss,
      collisionRate: selected.collisionRate,
      resumedFromStep: result.resumedFromStep,
      seconds: Math.round(result.seconds),
    };
  } finally {
    result.model.dispose();
  }
}
