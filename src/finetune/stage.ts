/**
 * The fine-tuning stage as a library call: train (trainer.ts), then write the stage's files into
 * `outDir` (flat: the artifact store publishes the files of a directory, not subdirectories):
 *   training_log.json                        every step, every epoch's validation, the kept epoch
 *   full fine-tuning: the model of the kept epoch, as `saveModel` writes it (HF layout:
 *     config.json, model.safetensors, tokenizer files)
 *   LoRA: adapter_config.json + adapter_model.safetensors (PEFT), and with lora.saveMerged the
 *     merged model as `saveModel` writes it (base + adapter and the merged weights compute the
 *     same), else the tokenizer files (`saveTokenizer`). PEFT users resize the base model's
 *     embeddings to the tokenizer's size before loading the adapter (the code tokens are new).
 * Loading the base model, tokenizing and rendering prompts are the caller's (the activity's).
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CausalLM } from '../llm/contract.js';
import type { CheckpointStore } from './checkpoints.js';
import { savePeftAdapter } from './peft.js';
import type { FinetuneSettings } from './settings.js';
import { finetune } from './trainer.js';
import type { FinetuneData, FinetuneOptions } from './trainer.js';
import { writeTrainingLog } from './trainingLog.js';

/** Part of the stage key: bump when a change alters what the stage writes. */
export const FINETUNE_CODE_VERSION = 'finetune/1';

export interface FinetuneStageOptions extends Omit<FinetuneOptions, 'checkpoints'> {
  /** Writes the model's current weights as a model directory at `dir` (which must not exist yet). */
  saveModel: (dir: string) => Promise<void>;
  /** Recorded in adapter_config.json as base_model_name_or_path. */
  baseModel: string;
  /**
   * Writes the tokenizer files (with the code tokens) into a directory: next to a LoRA adapter
   * saved without merged weights, so the adapter's directory says which ids its token rows are.
   */
  saveTokenizer?: (dir: string) => Promise<void>;
  checkpoints?: CheckpointStore;
}

export async function runFinetuneStage(model: CausalLM, data: FinetuneData, settings: FinetuneSettings, outDir: string, opts: FinetuneStageOptions) {
  await mkdir(outDir, { recursive: true });
  const result = await finetune(model, data, settings, opts);
  try {
    await writeTrainingLog(outDir, result.log);
    if (result.lora) {
      await savePeftAdapter(outDir, result.lora, { baseModel: opts.baseModel, tokenRows: result.params.filter((p) => p.rows) });
      if (settings.lora.saveMerged) await result.lora.withMerged(() => saveFlat(outDir, opts.saveModel));
      else if (opts.saveTokenizer) await opts.saveTokenizer(outDir);
    } else {
      await saveFlat(outDir, opts.saveModel);
    }
    const { log } = result;
    const kept = log.validation.find((v) => v.epoch === log.bestEpoch);
    return {
      mode: log.mode,
      steps: result.steps,
      epochs: settings.epochs,
      bestEpoch: log.bestEpoch,
      selectBy: log.selectBy,
      validLoss: kept?.loss ?? null,
      validRecallAt10: kept?.recallAt10 ?? null,
      firstLoss: log.steps[0]?.loss ?? null,
      lastLoss: log.steps.at(-1)?.loss ?? null,
      truncatedPrompts: log.validation.reduce((n, v) => n + v.truncatedPrompts, 0),
      resumedFromStep: log.resumedFromStep,
      tokensPerSecond: result.seconds > 0 ? Math.round(result.tokens / result.seconds) : null,
      seconds: Math.round(result.seconds),
    };
  } finally {
    result.lora?.dispose();
  }
}

/** Lets `save` write a fresh directory, then moves its files up into `outDir`. */
async function saveFlat(outDir: string, save: (dir: string) => Promise<void>): Promise<void> {
  const scratch = join(outDir, `.model.tmp-${process.pid}`);
  await rm(scratch, { recursive: true, force: true });
  await save(scratch);
  for (const name of await readdir(scratch)) await rename(join(scratch, name), join(outDir, name));
  await rm(scratch, { recursive: true, force: true });
}
