import { DEFAULT_EMBED_SETTINGS } from '../embed/embedItems.js';
import { GENREC_RQVAE } from '../rqvae/settings.js';
import { DEFAULT_EVALUATE_SETTINGS } from '../eval/settings.js';
import { FINETUNE_PRESETS } from '../finetune/settings.js';
import { PROMPTS_PRESETS } from '../prompts/settings.js';
import { DEFAULT_REPAIR_SETTINGS } from '../semid/assign.js';
import type { PipelineConfig } from './schema.js';

/** Deeply partial config, as written in files, presets and overrides. */
export type ConfigLayer = { [key: string]: unknown };

/**
 * SASRec on Amazon-sized data (12k items): genrec's lr 1e-3 and small batches (32 users: more
 * Adam steps per epoch). On Beauty lr 5e-3 stalls (valid Recall@10 0.031 after 3 epochs), lr 2e-3
 * and batches of 128 or 16 learn slower per epoch than this (0.053 after 3). Beauty with these:
 * best epoch 11 of 15, valid Recall@10 0.0918, test 0.0704 (genrec 0.0688).
 */
const BEAUTY_SASREC = { learningRate: 0.001, batchSize: 32, maxEpochs: 100, patience: 4 };

const base: PipelineConfig = {
  name: 'sample',
  seed: 42,
  dataset: {
    source: 'sample',
    format: 'amazon2014',
    sample: { seed: 20240101, users: 600, items: 300, category: 'Beauty' },
  },
  ingest: { kCore: null, dedupe: true, requireMetadata: true, minSequenceLength: 5 },
  baselines: {
    models: ['popularity', 'item-transition', 'sasrec'],
    topK: 10,
    // genrec's SASRec shape (2 blocks, 2 heads, 64 dims, 50 items), early-stopped on validation.
    // lr 5e-3 suits the 300-item sample (fast); Beauty-sized data takes BEAUTY_SASREC's.
    sasrec: { hidden: 64, blocks: 2, heads: 2, maxLength: 50, dropout: 0.2, learningRate: 0.005, batchSize: 64, maxEpochs: 30, patience: 5 },
  },
  // TF-IDF over the cleaned item text, projected to 768 dimensions (genrec's sentence-T5 width).
  embed: structuredClone(DEFAULT_EMBED_SETTINGS),
  // genrec's RQ-VAE shrunk to the sample's ~300 items: 3 levels x 32 codes, a few hundred epochs.
  rqvae: {
    ...GENREC_RQVAE,
    hiddenWidths: [256, 128],
    latentDim: 32,
    levels: 3,
    codebookSize: 32,
    epochs: 200,
    warmupEpochs: 10,
    evalEvery: 20,
  },
  semid: { ...DEFAULT_REPAIR_SETTINGS },
  prompts: structuredClone(PROMPTS_PRESETS.tiny),
  finetune: structuredClone(FINETUNE_PRESETS.tiny),
  evaluate: structuredClone(DEFAULT_EVALUATE_SETTINGS),
};

/**
 * `tiny`: the bundled synthetic sample, small enough that the whole pipeline runs in minutes on
 * two cores. `paper`: the values of genrec's LC-Rec on Amazon 2014 (5-core input, users with at
 * least 5 items); it needs a dataset source. `cpu-beauty`: the best quality that fits two cores
 * on the processed Amazon 2014 Beauty (`lcrec` format, already 5-core).
 */
export const PRESETS = {
  tiny: base,
  paper: {
    ...base,
    name: 'paper',
    dataset: { ...base.dataset, source: '' },
    ingest: { kCore: 5, dedupe: true, requireMetadata: true, minSequenceLength: 5 },
    baselines: { ...base.baselines, sasrec: { ...base.baselines.sasrec, ...BEAUTY_SASREC } },
    rqvae: { ...GENREC_RQVAE, hiddenWidths: [...GENREC_RQVAE.hiddenWidths] },
    prompts: structuredClone(PROMPTS_PRESETS.paper),
    finetune: structuredClone(FINETUNE_PRESETS.paper),
    // LC-Rec decodes with 20 beams (genrec: 10); the metrics only read the top 10.
    evaluate: { ...DEFAULT_EVALUATE_SETTINGS, beamWidth: 20 },
  },
  'cpu-beauty': {
    ...base,
    name: 'cpu-beauty',
    dataset: { ...base.dataset, source: '', format: 'lcrec' },
    ingest: { kCore: null, dedupe: true, requireMetadata: true, minSequenceLength: 3 },
    baselines: { ...base.baselines, sasrec: { ...base.baselines.sasrec, ...BEAUTY_SASREC } },
    // genrec's widths with the official 4 levels x 256 (a 4-token ID is cheaper to learn and to
    // decode than 5, and 256^3 leaves room for 12k items); epochs fit the 2-core, 40-minute budget
    // of embed + RQ-VAE + semantic IDs (about 4 s per epoch of 12 steps at batch 1024 on wasm).
    rqvae: {
      ...GENREC_RQVAE,
      hiddenWidths: [...GENREC_RQVAE.hiddenWidths],
      levels: 4,
      epochs: 400,
      warmupEpochs: 20,
      evalEvery: 20,
    },
    prompts: structuredClone(PROMPTS_PRESETS['cpu-beauty']),
    finetune: structuredClone(FINETUNE_PRESETS['cpu-beauty']),
    evaluate: structuredClone(DEFAULT_EVALUATE_SETTINGS),
  },
} satisfies Record<string, PipelineConfig>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
