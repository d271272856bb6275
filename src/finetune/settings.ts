/**
 * Every fine-tuning hyperparameter in one place (spec F), as a zod schema with defaults, plus the
 * values of the three presets. The integrator plugs `FinetuneSettingsSchema` into the pipeline
 * config as `finetune` and takes the preset values from `FINETUNE_PRESETS`.
 */
import { z } from 'zod';
import { BadInputError } from '../errors.js';
import { BASE_MODEL_PRESETS, BaseModelSettingsSchema } from './baseModel.js';

/** genrec's LoRA targets: every projection of attention and MLP (spec F). */
export const ALL_PROJECTIONS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

export const LoraSettingsSchema = z.strictObject({
  /** LoRA instead of full fine-tuning: base weights frozen, adapters on `targets`. */
  enabled: z.boolean().default(false),
  rank: z.int().min(1).max(1024).default(16),
  alpha: z.number().gt(0).max(10_000).default(32),
  /** Dropout on the adapter's input (PEFT's lora_dropout), seeded per step. */
  dropout: z.number().min(0).max(0.9).default(0.05),
  /**
   * Linear modules that get adapters, matched as PEFT does: a module path equal to the target or
   * ending in `.<target>` (so `q_proj` matches `model.layers.0.self_attn.q_proj`).
   */
  targets: z.array(z.string().min(1)).min(1).default([...ALL_PROJECTIONS]),
  /**
   * Train the rows of the new (semantic-ID) tokens in the embedding and the head, only those rows
   * (spec K.14: genrec's LoRA leaves them at their random init; the official one trains full copies).
   */
  trainNewTokenRows: z.boolean().default(true),
  /** Also write the merged weights (W + alpha/r B A) next to the adapter. */
  saveMerged: z.boolean().default(false),
});
export type LoraSettings = z.infer<typeof LoraSettingsSchema>;

export const ValidationSettingsSchema = z.strictObject({
  /** Validation samples whose loss is computed after every epoch (a fixed seeded subset; 0 = all). */
  lossSamples: z.int().min(0).default(2000),
  /** Validation users for Recall@10 after every epoch, when a search is wired in (0 = none). */
  recallUsers: z.int().min(0).default(500),
  /**
   * What picks the kept epoch: `recall` (higher Recall@10; needs the search), `loss` (lower
   * validation loss, as the official load_best_model_at_end), `auto` = recall when available.
   */
  selectBy: z.enum(['auto', 'loss', 'recall']).default('auto'),
  /** Sequences per forward pass when computing the validation loss. */
  batchSize: z.int().min(1).max(4096).default(32),
});
export type ValidationSettings = z.infer<typeof ValidationSettingsSchema>;

export const FinetuneSettingsSchema = z.strictObject({
  /** The model fine-tuned: a from-scratch Qwen (pruned vocabulary) or a local HF directory. */
  base: BaseModelSettingsSchema.default(BASE_MODEL_PRESETS.tiny),
  learningRate: z.number().gt(0).max(1).default(2e-5),
  epochs: z.int().min(1).max(1000).default(4),
  /** Sequences per micro-batch (one forward/backward). */
  batchSize: z.int().min(1).max(4096).default(32),
  /** Micro-batches per optimiser step: the effective batch is batchSize x gradAccumulation. */
  gradAccumulation: z.int().min(1).max(1024).default(2),
  /** Linear warm-up over this share of all optimiser steps, then cosine decay to 0. */
  warmupRatio: z.number().min(0).max(1).default(0.01),
  /** Decoupled AdamW weight decay, on every trainable parameter (torch AdamW(model.parameters())). */
  weightDecay: z.number().min(0).max(1).default(0.01),
  adamBeta1: z.number().min(0).lt(1).default(0.9),
  adamBeta2: z.number().min(0).lt(1).default(0.999),
  adamEpsilon: z.number().gt(0).default(1e-8),
  /** Global gradient-norm clip (torch clip_grad_norm_). */
  clipNorm: z.number().gt(0).default(1.0),
  /** Tokens per sequence (prompt + response + EOS); longer prompts lose tokens on the left. */
  maxLength: z.int().min(8).max(32_768).default(512),
  /**
   * Length buckets: units are sorted by length inside windows of this many micro-batches, so a
   * batch pads to similar lengths; the batches are then shuffled. 1 = no bucketing.
   */
  bucketWindow: z.int().min(1).max(10_000).default(50),
  /**
   * Sample units trained per epoch: null = all; a number = a fresh seeded subset each epoch (fits
   * a large dataset into a time budget while every epoch still sees new units and templates).
   */
  unitsPerEpoch: z.int().min(1).nullable().default(null),
  /**
   * Which head rows the loss scores: `full` (the whole vocabulary, default) or `codes` (only the
   * semantic-ID tokens and EOS: cheaper, but only for runs whose responses are all IDs, e.g.
   * seqrec + item2index without index2item).
   */
  head: z.enum(['full', 'codes']).default('full'),
  /** Optimiser steps between checkpoints (and one after the last step). */
  checkpointEvery: z.int().min(1).default(200),
  /** Checkpoints kept in a local checkpoint directory (older ones are removed). */
  keepCheckpoints: z.int().min(1).max(100).default(2),
  lora: LoraSettingsSchema.default(LoraSettingsSchema.parse({})),
  validation: ValidationSettingsSchema.default(ValidationSettingsSchema.parse({})),
});
export type FinetuneSettings = z.infer<typeof FinetuneSettingsSchema>;
export type FinetuneSettingsInput = z.input<typeof FinetuneSettingsSchema>;

/** Parses user settings; errors name the field (`finetune.lora.rank: ...`). */
export function parseFinetuneSettings(input: unknown, field = 'finetune'): FinetuneSettings {
  const result = FinetuneSettingsSchema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = [field, ...issue.path.map(String)].join('.');
  throw new BadInputError(issue.message, { field: path });
}

/**
 * Preset values. `paper` is genrec's (spec F): Qwen2.5-1.5B full fine-tuning, lr 2e-5, 4 epochs,
 * 32 x 2 = 64 sequences per step, max length 512, warm-up 1%, clip 1.0. `tiny` and `cpu-beauty`
 * train a small model from scratch on two cores: a much larger learning rate, shorter sequences.
 */
export const FINETUNE_PRESETS = {
  // Measured on the bundled sample (4,571 units, 72 tokens each, pruned vocabulary of 1,431):
  // 2 epochs take 5.5 min on 2 busy cores and reach validation Recall@10 0.25 (chance 0.035).
  tiny: FinetuneSettingsSchema.parse({
    base: BASE_MODEL_PRESETS.tiny,
    learningRate: 5e-3,
    epochs: 2,
    batchSize: 16,
    gradAccumulation: 1,
    warmupRatio: 0.05,
    maxLength: 160,
    bucketWindow: 16,
    checkpointEvery: 100,
    validation: { lossSamples: 200, recallUsers: 200, batchSize: 32 },
  }),
  // Sized for the 2-hour budget, measured on Beauty (179,796 train units of 87 tokens on average,
  // pruned vocabulary of 13,867): 1.56 s per step of 32 sequences on 2 lightly loaded cores, so
  // 4 epochs x 20,000 units = 2,500 steps take about 65 min, leaving room for validation (Recall@10
  // on 500 users per epoch) and for busier cores. Each epoch draws a fresh subset of the units.
  'cpu-beauty': FinetuneSettingsSchema.parse({
    base: BASE_MODEL_PRESETS['cpu-beauty'],
    learningRate: 3e-3,
    epochs: 4,
    batchSize: 16,
    gradAccumulation: 2,
    warmupRatio: 0.02,
    maxLength: 256,
    bucketWindow: 50,
    unitsPerEpoch: 20_000,
    checkpointEvery: 250,
    validation: { lossSamples: 1000, recallUsers: 500, batchSize: 32 },
  }),
  paper: FinetuneSettingsSchema.parse({
    base: { kind: 'pretrained', path: 'Qwen/Qwen2.5-1.5B' }, // genrec's base; set it to a local copy
    learningRate: 2e-5,
    epochs: 4,
    batchSize: 32,
    gradAccumulation: 2,
    warmupRatio: 0.01,
    weightDecay: 0.01,
    clipNorm: 1.0,
    maxLength: 512,
    // A full checkpoint of a 1.5B model (weights, moments, best epoch) is ~24 GB.
    checkpointEvery: 1000,
  }),
} as const satisfies Record<string, FinetuneSettings>;
