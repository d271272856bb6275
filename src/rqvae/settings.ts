/**
 * Every RQ-VAE hyperparameter in one place (spec C.1), with the two sources as presets:
 * `GENREC_RQVAE` (the default: phonism/genrec's LCRec config) and `OFFICIAL_RQVAE`
 * (RUCAIBox/LC-Rec index/run.sh). Field names say what they are; comments cite the spec row.
 *
 * Not reproduced: the official script's BatchNorm1d (enabled by an argparse `type=bool` bug when
 * `--bn False` is passed, spec K.8) and Dropout (p = 0 there, so a no-op).
 */
import { BadInputError } from '../errors.js';

export type Activation = 'silu' | 'relu';
/** `torch-default`: nn.Linear's U(-1/sqrt(fan_in), 1/sqrt(fan_in)); `xavier-normal`: N(0, 2/(fan_in+fan_out)), zero bias. */
export type WeightInit = 'torch-default' | 'xavier-normal';
/**
 * Spec K.10. `sum` (genrec): per item, squared errors summed over dims, level losses summed,
 * then the batch mean. `mean` (official): MSE means over all elements, level losses averaged.
 */
export type LossScaling = 'sum' | 'mean';
/** `kmeans`: Lloyd k-means on encoded data before step 0; `uniform`: genrec's U(0,1) draw, kept. */
export type CodebookInit = 'kmeans' | 'uniform';
/** `kmeans++` (official, via sklearn) or distinct random points (genrec). */
export type KMeansSeeding = 'kmeans++' | 'random';

export interface RqvaeSettings {
  // --- architecture (spec C.1) ---
  /** Widths of the encoder's hidden layers, input side first; the decoder mirrors them. */
  hiddenWidths: number[];
  latentDim: number;
  levels: number;
  codebookSize: number;
  activation: Activation;
  bias: boolean;
  weightInit: WeightInit;
  /** genrec L2-normalises the decoder output (and x_hat again before the loss: idempotent). */
  normalizeOutput: boolean;

  // --- losses ---
  lossScaling: LossScaling;
  /** beta of the commitment term: 0.25 in both. */
  commitmentWeight: number;
  /** Weight of the quantisation loss next to the reconstruction loss (official --quant_loss_weight). */
  quantLossWeight: number;

  // --- codebook initialisation ---
  codebookInit: CodebookInit;
  /** Items encoded for k-means (genrec: a >= 20,000 "big batch"; official: the first batch of 1024). */
  kmeansSamples: number;
  /** Lloyd iterations at most (stops earlier when no assignment changes; sklearn: max_iter 100). */
  kmeansIterations: number;
  kmeansSeeding: KMeansSeeding;

  // --- last-level assignment in training (spec C.2) ---
  /** Balanced Sinkhorn-Knopp assignment on the last level while training; argmin everywhere else. */
  sinkhornLastLevel: boolean;
  sinkhornEpsilon: number;
  sinkhornIterations: number;

  // --- optimisation ---
  learningRate: number;
  /** Decoupled (AdamW) weight decay, applied to every parameter, codebooks included, as torch's AdamW(model.parameters()). */
  weightDecay: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEpsilon: number;
  /** Linear warm-up over this many epochs, then linear decay to 0 at the last step (stepped per batch). */
  warmupEpochs: number;
  epochs: number;
  batchSize: number;
  /** Global gradient-norm clip (torch clip_grad_norm_). */
  clipNorm: number;

  // --- evaluation ---
  /** Evaluate every this many epochs, and after the last one. */
  evalEvery: number;
  /**
   * Only evaluations at epoch >= selectFromFraction * epochs (and always the last one) compete in
   * the selection rule (evaluate.ts): right after k-means initialisation the codes are spread
   * widely (few collisions) while the reconstruction is poor, so an unrestricted "fewest
   * collisions" would keep an untrained model. Both sources pick a mid-to-late epoch (spec K.9).
   */
  selectFromFraction: number;
  /** Items per forward pass when encoding all items (evaluation, k-means sample, codes). */
  inferenceBatchSize: number;
}

/** genrec LCRec (GR:config/lcrec/amazon/rqvae.gin): 768-512-256-128-64, SiLU, no bias, 5 x 256. */
export const GENREC_RQVAE: Readonly<RqvaeSettings> = Object.freeze({
  hiddenWidths: [512, 256, 128],
  latentDim: 64,
  levels: 5,
  codebookSize: 256,
  activation: 'silu',
  bias: false,
  weightInit: 'torch-default',
  normalizeOutput: true,
  lossScaling: 'sum',
  commitmentWeight: 0.25,
  quantLossWeight: 1.0,
  codebookInit: 'kmeans',
  kmeansSamples: 20_000,
  kmeansIterations: 100,
  kmeansSeeding: 'random',
  sinkhornLastLevel: true,
  sinkhornEpsilon: 0.003,
  sinkhornIterations: 100,
  learningRate: 1e-3,
  weightDecay: 1e-4,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-8,
  warmupEpochs: 50,
  // Configured 5000; genrec's LCRec then loads the epoch-2000 checkpoint (spec K.9).
  epochs: 5000,
  batchSize: 1024,
  clipNorm: 1.0,
  evalEvery: 50,
  selectFromFraction: 0.5,
  inferenceBatchSize: 4096,
}) as Readonly<RqvaeSettings>;

/** Official LC-Rec (OFF:index/run.sh): 4096 -> 2048-...-64 -> 32, ReLU, Xavier-normal + zero bias, 4 x 256. */
export const OFFICIAL_RQVAE: Readonly<RqvaeSettings> = Object.freeze({
  ...GENREC_RQVAE,
  hiddenWidths: [2048, 1024, 512, 256, 128, 64],
  latentDim: 32,
  levels: 4,
  activation: 'relu',
  bias: true,
  weightInit: 'xavier-normal',
  normalizeOutput: false,
  lossScaling: 'mean',
  kmeansSamples: 1024,
  kmeansSeeding: 'kmeans++',
  sinkhornIterations: 50,
  // run.sh trains 10,000; the author uses the epoch-5000 checkpoint (issue LC#20).
  epochs: 10_000,
}) as Readonly<RqvaeSettings>;

export const RQVAE_PRESETS = { genrec: GENREC_RQVAE, official: OFFICIAL_RQVAE } as const;

/** Throws a BadInputError naming the first setting out of range; `field` prefixes the names. */
export function validateRqvaeSettings(s: RqvaeSettings, field = 'rqvae'): void {
  const fail = (name: string, why: string): never => {
    throw new BadInputError(why, { field: `${field}.${name}` });
  };
  const int = (name: keyof RqvaeSettings, min: number) => {
    const v = s[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(name, `must be an integer >= ${min}, got ${String(v)}`);
  };
  const positive = (name: keyof RqvaeSettings, orZero = false) => {
    const v = s[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!orZero && v === 0)) fail(name, `must be a finite number ${orZero ? '>= 0' : '> 0'}, got ${String(v)}`);
  };
  if (!Array.isArray(s.hiddenWidths) || !s.hiddenWidths.every((w) => Number.isInteger(w) && w >= 1)) fail('hiddenWidths', 'must be a list of positive integers');
  int('latentDim', 1);
  int('levels', 1);
  int('codebookSize', 2);
  int('kmeansSamples', 1);
  int('kmeansIterations', 0);
  int('sinkhornIterations', 0);
  int('warmupEpochs', 0);
  int('epochs', 1);
  int('batchSize', 1);
  int('evalEvery', 1);
  int('inferenceBatchSize', 1);
  positive('commitmentWeight', true);
  positive('quantLossWeight', true);
  positive('sinkhornEpsilon');
  positive('learningRate');
  positive('weightDecay', true);
  positive('adamEpsilon');
  positive('clipNorm');
  if (!(s.selectFromFraction >= 0 && s.selectFromFraction <= 1)) fail('selectFromFraction', `must be in [0, 1], got ${s.selectFromFraction}`);
  for (const name of ['adamBeta1', 'adamBeta2'] as const) if (!(s[name] >= 0 && s[name] < 1)) fail(name, `must be in [0, 1), got ${s[name]}`);
  if (!['silu', 'relu'].includes(s.activation)) fail('activation', `must be silu or relu, got ${s.activation}`);
  if (!['torch-default', 'xavier-normal'].includes(s.weightInit)) fail('weightInit', `must be torch-default or xavier-normal, got ${s.weightInit}`);
  if (!['sum', 'mean'].includes(s.lossScaling)) fail('lossScaling', `must be sum or mean, got ${s.lossScaling}`);
  if (!['kmeans', 'uniform'].includes(s.codebookInit)) fail('codebookInit', `must be kmeans or uniform, got ${s.codebookInit}`);
  if (!['kmeans++', 'random'].includes(s.kmeansSeeding)) fail('kmeansSeeding', `must be kmeans++ or random, got ${s.kmeansSeeding}`);
}
