/**
 * `training_log.json`, the record of a fine-tuning run that the run report reads
 * (src/report/llmFiles.ts validates the fields it shows): one row per optimiser step, one record
 * per epoch's validation, the kept epoch and the rule that picked it, whether the run resumed.
 */
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const TRAINING_LOG_FILE = 'training_log.json';
export const TRAINING_LOG_FORMAT = 'lcrec-finetune-log/1';

export interface StepRow {
  /** Optimiser step, 1-based (after gradient accumulation). */
  step: number;
  /** step / stepsPerEpoch: fractional epochs done (1.5 = half of epoch 2). */
  epoch: number;
  /** Mean cross-entropy per supervised token (nats) over the step's sequences. */
  loss: number;
  /** Learning rate the step ran with. */
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Supervised tokens of the step. */
  tokens: number;
}

/** Everything measured at the end of an epoch. */
export interface EpochRecord {
  epoch: number;
  step: number;
  /** Mean training loss per supervised token over the epoch. */
  trainLoss: number;
  /** Mean validation loss per supervised token; null when no validation samples were given. */
  loss: number | null;
  /** Supervised tokens of the validation samples. */
  tokens: number;
  /** Recall@10 on the fixed validation users; null when no search was wired in. */
  recallAt10: number | null;
  /** Prompts truncated on the left to fit maxLength in this epoch's samples. */
  truncatedPrompts: number;
}

export interface TrainingLog {
  format: typeof TRAINING_LOG_FORMAT;
  mode: 'full' | 'lora';
  steps: StepRow[];
  /** One record per finished epoch. */
  validation: EpochRecord[];
  /** What picked the kept epoch: `recall` (higher), `loss` (lower) or `last` (no validation). */
  selectBy: 'recall' | 'loss' | 'last';
  /** The epoch whose weights were kept, 1-based. */
  bestEpoch: number | null;
  totalSteps: number;
  stepsPerEpoch: number;
  /** Step of the checkpoint this run resumed from; null when it started fresh. */
  resumedFromStep: number | null;
}

export async function writeTrainingLog(dir: string, log: TrainingLog): Promise<string> {
  const path = join(dir, TRAINING_LOG_FILE);
  const temp = `${path}.tmp-${process.pid}`;
  await writeFile(temp, JSON.stringify(log, null, 1) + '\n');
  await rename(temp, path);
  return path;
}
