import { z } from 'zod';
import { BASELINE_MODELS } from '../baselines/models.js';
import { ENCODERS } from '../embed/embedItems.js';
import { HfEncoderSettingsSchema } from '../embed/hfEncoder.js';
import { EvaluateSettingsSchema } from '../eval/settings.js';
import { FinetuneSettingsSchema } from '../finetune/settings.js';
import { PromptsSettingsSchema } from '../prompts/settings.js';
import { REPAIR_STRATEGIES } from '../semid/assign.js';

/** Dataset formats that ingestion reads. Later issues add more readers here. */
export const DATASET_FORMATS = ['amazon2014', 'lcrec', 'amazon2018', 'amazon2023', 'recbole', 'recbole-splits'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** The bundled synthetic sample: generated from a seed, never committed. */
const SampleSchema = z.strictObject({
  seed: z.int().min(0),
  users: z.int().min(10).max(1_000_000),
  items: z.int().min(10).max(1_000_000),
  category: z.string().regex(/^[A-Za-z_]+$/, 'letters and underscores only'),
});

const DatasetSchema = z.strictObject({
  /** 'sample' (the bundled generator), or a path to a file or directory. */
  source: z.string().min(1, 'dataset.source is required: a path, or "sample"'),
  format: z.enum(DATASET_FORMATS),
  sample: SampleSchema,
});

const IngestSchema = z.strictObject({
  /** Iterative k-core threshold for users and items; 0 turns it off. null: the format's default. */
  kCore: z.int().min(0).max(1000).nullable(),
  /** Drop repeated (user, item) interactions, keeping the earliest (spec A.3 step 3). */
  dedupe: z.boolean(),
  /** Drop interactions whose item has no metadata record (spec A.3 step 4). */
  requireMetadata: z.boolean(),
  /** Minimum sequence length kept after filtering; leave-one-out needs at least 3. */
  minSequenceLength: z.int().min(3).max(1000),
});

const SasrecSchema = z.strictObject({
  hidden: z.int().min(8).max(1024),
  blocks: z.int().min(1).max(12),
  heads: z.int().min(1).max(16),
  /** Items of history the model sees. */
  maxLength: z.int().min(2).max(512),
  dropout: z.number().min(0).max(0.9),
  learningRate: z.number().gt(0).max(1),
  batchSize: z.int().min(1).max(4096),
  maxEpochs: z.int().min(1).max(10_000),
  /** Epochs without a better validation Recall@10 before training stops. */
  patience: z.int().min(1).max(1000),
}).superRefine((s, ctx) => {
  // Each head attends over hidden / heads dimensions.
  if (s.hidden % s.heads !== 0) ctx.addIssue({ code: 'custom', path: ['heads'], message: `the hidden size ${s.hidden} is not divisible by ${s.heads} heads` });
});

const BaselinesSchema = z.strictObject({
  /** Which simple recommenders are evaluated beside every result. */
  models: z.array(z.enum(BASELINE_MODELS)).min(1),
  /** Length of each recommended list: the largest K of the metrics. */
  topK: z.int().min(10).max(1000),
  sasrec: SasrecSchema,
});

const TEXT_FIELD_WEIGHT = z.number().min(0).max(100);

const EmbedSchema = z.strictObject({
  /** `tfidf` (offline default), `hf` (a local Qwen model directory) or `file` (precomputed embeddings: .npy, .safetensors, Parquet). */
  encoder: z.enum(ENCODERS),
  tfidf: z.strictObject({
    dim: z.int().min(2).max(65_536),
    fieldWeights: z.strictObject({ title: TEXT_FIELD_WEIGHT, brand: TEXT_FIELD_WEIGHT, categories: TEXT_FIELD_WEIGHT, description: TEXT_FIELD_WEIGHT }),
    minDf: z.int().min(1),
    maxDfRatio: z.number().gt(0).max(1),
    maxVocab: z.int().min(1),
    minTokenLength: z.int().min(1).max(100),
    sublinearTf: z.boolean(),
    chunkSize: z.int().min(1),
  }),
  /** Item text through a local Hugging Face Qwen model (src/embed/hfEncoder.ts). */
  hf: HfEncoderSettingsSchema.extend({ modelDir: z.string().min(1).nullable() }),
  file: z.strictObject({
    path: z.string().min(1).nullable(),
    tensor: z.string().min(1).nullable(),
    idColumn: z.string().min(1),
    embeddingColumn: z.string().min(1),
    idsPath: z.string().min(1).nullable(),
    dim: z.int().min(1).nullable(),
  }),
});

const positiveInt = z.int().min(1);
/** Spec C; field meanings in src/rqvae/settings.ts. Presets: genrec (5 x 256) and official (4 x 256). */
const RqvaeSchema = z.strictObject({
  hiddenWidths: z.array(positiveInt).min(1),
  latentDim: positiveInt,
  levels: z.int().min(1).max(16),
  codebookSize: z.int().min(2).max(65_536),
  activation: z.enum(['silu', 'relu']),
  bias: z.boolean(),
  weightInit: z.enum(['torch-default', 'xavier-normal']),
  normalizeOutput: z.boolean(),
  lossScaling: z.enum(['sum', 'mean']),
  commitmentWeight: z.number().min(0),
  quantLossWeight: z.number().min(0),
  codebookInit: z.enum(['kmeans', 'uniform']),
  kmeansSamples: positiveInt,
  kmeansIterations: z.int().min(0),
  kmeansSeeding: z.enum(['kmeans++', 'random']),
  sinkhornLastLevel: z.boolean(),
  sinkhornEpsilon: z.number().gt(0),
  sinkhornIterations: z.int().min(0),
  learningRate: z.number().gt(0),
  weightDecay: z.number().min(0),
  adamBeta1: z.number().min(0).lt(1),
  adamBeta2: z.number().min(0).lt(1),
  adamEpsilon: z.number().gt(0),
  warmupEpochs: z.int().min(0),
  epochs: positiveInt,
  batchSize: positiveInt,
  clipNorm: z.number().gt(0),
  evalEvery: positiveInt,
  selectFromFraction: z.number().min(0).max(1),
  inferenceBatchSize: positiveInt,
});

const SemidSchema = z.strictObject({
  /** 'free-codes' (default: Sinkhorn over codes no other item holds) or 'official'. */
  strategy: z.enum(REPAIR_STRATEGIES),
  epsilon: z.number().gt(0),
  maxRounds: z.int().min(0).max(1000),
  sinkhornIterations: z.int().min(1),
});

export const PipelineConfigSchema = z.strictObject({
  /** Human name of the run, part of its workflow id; a "split" in genrec's sense (beauty, sports, ...). */
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lowercase letters, digits and dashes (max 40)'),
  /** The run's root seed; every stage derives its own seed from it. */
  seed: z.int().min(0).max(2 ** 31 - 1),
  dataset: DatasetSchema,
  ingest: IngestSchema,
  baselines: BaselinesSchema,
  embed: EmbedSchema,
  rqvae: RqvaeSchema,
  semid: SemidSchema,
  /** Multi-task prompts (src/prompts/settings.ts). */
  prompts: PromptsSettingsSchema,
  /** LLM fine-tuning: base model, optimiser, LoRA, checkpoints (src/finetune/settings.ts). */
  finetune: FinetuneSettingsSchema,
  /** Constrained beam search and metrics (src/eval/settings.ts). */
  evaluate: EvaluateSettingsSchema,
});

export type PipelineConfig = z.infer<typeof PipelineConfigSchema>;
export type BaselinesConfig = PipelineConfig['baselines'];
export type EmbedConfig = PipelineConfig['embed'];
export type IngestConfig = PipelineConfig['ingest'];
export type DatasetConfig = PipelineConfig['dataset'];
