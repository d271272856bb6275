/**
 * Supervised fine-tuning of a CausalLM on multi-task samples (spec E, F): epochs over sample units
 * whose template is drawn per epoch (the `render` callback), length-bucketed micro-batches,
 * gradient accumulation, AdamW with a cosine schedule and warm-up, global-norm clipping, full
 * fine-tuning or LoRA (+ the new tokens' rows), a validation after every epoch that decides which
 * epoch's weights are kept, and checkpoints every N optimiser steps from which a new process
 * continues bit-for-bit (same backend). Steps yield to the event loop so a Temporal activity keeps
 * heartbeating.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { BadInputError } from '../errors.js';
import type { CausalLM, LinearFn } from '../llm/contract.js';
import { clipScale, globalNorm } from '../tensor/adamwUpdate.js';
import { tf } from '../tensor/backend.js';
import { initTensorEngine } from '../tensor/init.js';
import { checkMemory } from '../tensor/memory.js';
import { finetuneMemoryBytes } from './memoryEstimate.js';
import { Rng, rngFor } from '../tensor/rng.js';
import type { WritableTensor } from '../tensor/safetensors.js';
import { digestOf } from '../util/canonical.js';
import { SlicedAdamW } from './adamw.js';
import { buildBatch, planEpoch, prepareSequence, supervisedCount } from './batching.js';
import type { PreparedSequence, TokenizedSample } from './batching.js';
import { STATE_FORMAT } from './checkpoints.js';
import type { CheckpointStore, FinetuneMeta, FinetuneState } from './checkpoints.js';
import { batchLossSum } from './loss.js';
import { LoraAdapters, linearAccessFor } from './lora.js';
import type { LinearAccess } from './lora.js';
import { checkParams, readTrainable, sliceElements, takeSlice, trainableShape, trainableSize, writeTrainable } from './params.js';
import type { TrainableParam } from './params.js';
import { cosineWithWarmup, warmupStepsFor } from './schedule.js';
import { parseFinetuneSettings } from './settings.js';
import type { FinetuneSettings } from './settings.js';
import { TRAINING_LOG_FORMAT } from './trainingLog.js';
import type { EpochRecord, StepRow, TrainingLog } from './trainingLog.js';

/** The tensors of the token rows LoRA trains: embedding and (untied) head, by HF name. */
export const TOKEN_ROW_WEIGHTS = ['model.embed_tokens.weight', 'lm_head.weight'] as const;

export interface FinetuneData {
  /** Sample units of one epoch (every unit is visited once per epoch). */
  units: number;
  /** Tokenized prompt and response of a unit in an epoch (its template is drawn per epoch). */
  render(unit: number, epoch: number): TokenizedSample;
  eosId: number;
  /** Right-padding id; any id works (padded positions are never read). Default: eosId. */
  padId?: number;
  /** Validation samples (fixed templates) for the per-epoch loss. */
  validation?: { count: number; render(index: number): TokenizedSample };
}

export interface RecallContext {
  /** 1-based epoch just finished. */
  epoch: number;
  step: number;
  /** How many validation users to evaluate (settings.validation.recallUsers). */
  users: number;
}

export interface FinetuneOptions {
  /** The run's seed: shuffling, LoRA init, dropout and the validation subset derive from it. */
  seed: number;
  /** How LoRA reaches the model's linear layers; default linearAccessFor(model). */
  linearAccess?: LinearAccess;
  /** Token ids whose embedding/head rows train under LoRA (the semantic-ID tokens). */
  newTokenIds?: Int32Array;
  /** Score the head only over these tokens (a candidate vocabulary); default: all. */
  headTokens?: Int32Array;
  /**
   * Recall@10 on a fixed sample of validation users, after every epoch; the model holds the
   * epoch's weights (LoRA merged in) while it runs. Provided by the constrained beam search.
   */
  recallAt10?: (ctx: RecallContext) => Promise<number>;
  checkpoints?: CheckpointStore;
  /** Called after each checkpoint with the store's reference (heartbeat it). */
  onCheckpoint?: (ref: string, step: number) => void;
  signal?: AbortSignal;
  onProgress?: (p: { phase: string; done: number; total: number }) => void;
  log?: (line: string) => void;
}

export interface FinetuneResult {
  log: TrainingLog;
  /** LoRA adapters holding the kept epoch's values (undefined for full fine-tuning); the caller disposes them. */
  lora?: LoraAdapters;
  /** The trainable parameters (full: every weight; LoRA: adapters + token rows). */
  params: readonly TrainableParam[];
  steps: number;
  seconds: number;
  /** Sequences and real tokens seen by training steps of this process (throughput figures). */
  sequences: number;
  tokens: number;
}

export async function finetune(model: CausalLM, data: FinetuneData, settingsInput: FinetuneSettings, opts: FinetuneOptions): Promise<FinetuneResult> {
  const settings = parseFinetuneSettings(settingsInput);
  validateData(model, data);
  const backend = await initTensorEngine();
  const started = performance.now();
  const log = opts.log ?? (() => {});

  const lora = settings.lora.enabled ? makeLora(model, settings, opts) : undefined;
  try {
    const params = checkParams(lora ? [...lora.params(), ...tokenRowParams(model, opts.newTokenIds, settings)] : fullParams(model));
    checkMemory(finetuneMemoryBytes(model, settings, params.reduce((n, p) => n + trainableSize(p), 0)), backend, 'fine-tuning');
    const variables = params.map((p) => p.variable);
    const elements = params.map((p) => sliceElements(p));
    const optimizer = new SlicedAdamW(params, { beta1: settings.adamBeta1, beta2: settings.adamBeta2, epsilon: settings.adamEpsilon, weightDecay: settings.weightDecay });

    const unitsPerEpoch = Math.min(data.units, settings.unitsPerEpoch ?? data.units);
    const microPerEpoch = Math.ceil(unitsPerEpoch / settings.batchSize);
    const stepsPerEpoch = Math.ceil(microPerEpoch / settings.gradAccumulation);
    const totalSteps = settings.epochs * stepsPerEpoch;
    const warmupSteps = warmupStepsFor(settings.warmupRatio, totalSteps);
    const validationSet = pickValidation(data, settings, opts.seed);
    const hasRecall = opts.recallAt10 !== undefined && settings.validation.recallUsers > 0;
    const selectBy = settings.validation.selectBy === 'auto' ? (hasRecall ? 'recall' : validationSet.length > 0 ? 'loss' : 'last') : settings.validation.selectBy;
    if (selectBy === 'recall' && !hasRecall) throw new BadInputError('selecting the epoch by recall needs the beam search and recallUsers > 0', { field: 'finetune.validation.selectBy' });
    if (selectBy === 'loss' && validationSet.length === 0) throw new BadInputError('selecting the epoch by loss needs validation samples', { field: 'finetune.validation.selectBy' });
    const fingerprint = digestOf({ settings, units: data.units, seed: opts.seed, params: params.map((p) => [p.name, trainableShape(p)]), headTokens: opts.headTokens ? Array.from(opts.headTokens) : null });

    // Fresh start or resume from the newest checkpoint.
    let meta: Omit<FinetuneMeta, 'format' | 'fingerprint' | 'step'> = {
      epoch: 0,
      position: 0,
      rng: rngFor(opts.seed, 'finetune/shuffle').state(),
      epochLossSum: 0,
      epochTokens: 0,
      steps: [],
      validation: [],
      best: null,
    };
    let best: Float32Array[] | undefined;
    const candidates = Array.from({ length: totalSteps }, (_, i) => totalSteps - i).filter((step) => step % settings.checkpointEvery === 0 || step === totalSteps);
    const saved = await opts.checkpoints?.loadNewest(candidates);
    if (saved) {
      if (saved.meta.fingerprint !== fingerprint) throw new Error('the newest fine-tuning checkpoint was written by another configuration (settings, data size, seed or parameters differ); it cannot resume this run');
      best = restore(saved, params, optimizer);
      meta = saved.meta;
      log(`finetune: resumed at step ${saved.meta.step} (epoch ${meta.epoch + 1}, micro-batch ${meta.position})`);
    }
    const resumedFromStep = saved ? saved.meta.step : null;
    let sequences = 0;
    let tokens = 0;

    const checkpoint = async () => {
      if (!opts.checkpoints) return;
      const state = capture(params, optimizer, best, { ...meta, format: STATE_FORMAT, fingerprint, step: optimizer.step });
      const ref = await opts.checkpoints.save(state);
      opts.onCheckpoint?.(ref, optimizer.step);
    };

    while (meta.epoch < settings.epochs) {
      const epoch = meta.epoch;
      const rng = Rng.fromState(meta.rng);
      // This epoch's units: all of them, or a fresh seeded subset of unitsPerEpoch.
      const chosen = epochUnits(data.units, unitsPerEpoch, rng);
      const prepared: PreparedSequence[] = [];
      let truncatedPrompts = 0;
      for (const [k, u] of chosen.entries()) {
        const seq = prepareSequence(data.render(u, epoch), data.eosId, settings.maxLength, `sample unit ${u} (epoch ${epoch + 1})`);
        if (seq.truncated > 0) truncatedPrompts++;
        prepared.push(seq);
        if (k % 2000 === 1999) {
          // Rendering a large epoch takes a while: keep the worker's heartbeats and polls going.
          opts.onProgress?.({ phase: `rendering epoch ${epoch + 1}`, done: k + 1, total: chosen.length });
          await yieldToEventLoop();
          opts.signal?.throwIfAborted();
        }
      }
      const lengths = Int32Array.from(prepared, (s) => s.ids.length);
      const plan = planEpoch(lengths, settings.batchSize, settings.bucketWindow, rng); // indices into `prepared`
      const nextEpochRng = rng.state();

      while (meta.position < plan.length) {
        opts.signal?.throwIfAborted();
        const group = plan.slice(meta.position, meta.position + settings.gradAccumulation);
        const stepTokens = group.reduce((n, units) => n + units.reduce((m, u) => m + supervisedCount(prepared[u]!), 0), 0);
        const acc = params.map((_, i) => new Float32Array(elements[i] ? elements[i]!.length : variables[i]!.size));
        let lossSum = 0;
        for (const [k, units] of group.entries()) {
          const batch = buildBatch(Array.from(units, (u) => prepared[u]!), data.padId ?? data.eosId);
          const linear = lora?.linear(rngFor(opts.seed, `finetune/dropout/${optimizer.step}/${k}`));
          const { value, grads } = tf.variableGrads(
            () => tf.div(batchLossSum(model, batch, { linear, headTokens: opts.headTokens }), stepTokens) as tf.Scalar,
            variables,
          );
          lossSum += (value.dataSync()[0] as number) * stepTokens;
          value.dispose();
          params.forEach((p, i) => {
            const g = grads[p.variable.name];
            if (g) {
              const slice = takeSlice(g.dataSync() as Float32Array, elements[i]);
              const a = acc[i]!;
              for (let j = 0; j < a.length; j++) a[j] = a[j]! + slice[j]!;
            }
          });
          tf.dispose(grads);
          sequences += batch.batch;
          tokens += batch.realTokens;
          if (k < group.length - 1) await yieldToEventLoop(); // between micro-batches too: a step can take seconds
        }
        const norm = globalNorm(acc);
        const lr = settings.learningRate * cosineWithWarmup(optimizer.step, warmupSteps, totalSteps);
        optimizer.apply(acc, lr, clipScale(norm, settings.clipNorm));
        const loss = lossSum / stepTokens;
        if (!Number.isFinite(loss)) throw new Error(`fine-tuning loss became ${loss} at step ${optimizer.step} (epoch ${epoch + 1})`);
        meta.position += group.length;
        meta.epochLossSum += lossSum;
        meta.epochTokens += stepTokens;
        meta.steps.push({ step: optimizer.step, epoch: optimizer.step / stepsPerEpoch, loss, lr, gradNorm: norm, tokens: stepTokens });

        if (meta.position === plan.length) {
          const record = await validate(model, lora, data, validationSet, settings, opts, { epoch: epoch + 1, step: optimizer.step, trainLoss: meta.epochLossSum / meta.epochTokens, truncatedPrompts });
          meta.validation.push(record);
          const metric = selectBy === 'recall' ? record.recallAt10! : selectBy === 'loss' ? record.loss! : epoch + 1;
          const better = meta.best === null || (selectBy === 'loss' ? metric < meta.best.metric : metric > meta.best.metric);
          if (better) {
            meta.best = { epoch: epoch + 1, metric };
            best = params.map((p) => readTrainable(p));
          }
          log(
            `finetune epoch ${epoch + 1}/${settings.epochs}: train loss ${record.trainLoss.toFixed(4)}` +
              (record.loss !== null ? `  valid loss ${record.loss.toFixed(4)}` : '') +
              (record.recallAt10 !== null ? `  valid R@10 ${record.recallAt10.toFixed(4)}` : '') +
              (truncatedPrompts > 0 ? `  (${truncatedPrompts} prompts truncated)` : ''),
          );
          meta = { ...meta, epoch: epoch + 1, position: 0, rng: nextEpochRng, epochLossSum: 0, epochTokens: 0 };
        }
        if (optimizer.step % settings.checkpointEvery === 0 || optimizer.step === totalSteps) await checkpoint();
        opts.onProgress?.({ phase: `finetune epoch ${Math.min(meta.epoch + 1, settings.epochs)}/${settings.epochs}`, done: optimizer.step, total: totalSteps });
        await yieldToEventLoop();
        if (meta.epoch !== epoch) break;
      }
    }

    // Keep the selected epoch's values (the last epoch often overfits: spec F, LC#16).
    if (best) {
      params.forEach((p, i) => writeTrainable(p, best![i]!));
      optimizer.resync();
      log(`finetune: kept the weights of epoch ${meta.best!.epoch} (by ${selectBy})`);
    }
    const trainingLog: TrainingLog = {
      format: TRAINING_LOG_FORMAT,
      mode: lora ? 'lora' : 'full',
      steps: meta.steps,
      validation: meta.validation,
      selectBy,
      bestEpoch: meta.best?.epoch ?? null,
      totalSteps,
      stepsPerEpoch,
      resumedFromStep,
    };
    return { log: trainingLog, lora, params, steps: optimizer.step, seconds: (performance.now() - started) / 1000, sequences, tokens };
  } catch (error) {
    lora?.dispose();
    throw error;
  }
}

/** Every unit in order, or `k` of them drawn without replacement (the rest wait for another epoch). */
function epochUnits(n: number, k: number, rng: Rng): Int32Array {
  return k >= n ? Int32Array.from({ length: n }, (_, i) => i) : rng.sample(n, k);
}

function validateData(model: CausalLM, data: FinetuneData): void {
  if (!Number.isInteger(data.units) || data.units < 1) throw new BadInputError(`fine-tuning needs at least one sample unit, got ${data.units}`);
  for (const [name, id] of [['eosId', data.eosId], ['padId', data.padId ?? data.eosId]] as const) {
    if (!Number.isInteger(id) || id < 0 || id >= model.vocabSize) throw new BadInputError(`${name} ${id} is outside the model's vocabulary 0..${model.vocabSize - 1}`);
  }
  if (data.validation && (!Number.isInteger(data.validation.count) || data.validation.count < 0)) throw new BadInputError(`validation count must be an integer >= 0, got ${data.validation.count}`);
}

function makeLora(model: CausalLM, settings: FinetuneSettings, opts: FinetuneOptions): LoraAdapters {
  const { rank, alpha, dropout, targets } = settings.lora;
  return new LoraAdapters(model, opts.linearAccess ?? linearAccessFor(model), { rank, alpha, dropout, targets }, rngFor(opts.seed, 'finetune/lora-init'));
}

/** Every weight of the model, by name (full fine-tuning). */
function fullParams(model: CausalLM): TrainableParam[] {
  return [...model.weights].map(([name, variable]) => ({ name, variable }));
}

/** The new tokens' rows of the embedding and the untied head (LoRA with trainNewTokenRows). */
export function tokenRowParams(model: CausalLM, ids: Int32Array | undefined, settings: FinetuneSettings): TrainableParam[] {
  if (!settings.lora.trainNewTokenRows) return [];
  if (!ids || ids.length === 0) throw new BadInputError('LoRA with trainNewTokenRows needs the new token ids (the semantic-ID tokens)', { field: 'finetune.lora.trainNewTokenRows' });
  const index = Int32Array.from(new Set(ids)).sort();
  for (const id of index) if (id < 0 || id >= model.vocabSize) throw new BadInputError(`new token id ${id} is outside the model's vocabulary 0..${model.vocabSize - 1}`);
  const out: TrainableParam[] = [];
  for (const name of TOKEN_ROW_WEIGHTS) {
    const variable = model.weights.get(name);
    if (!variable) continue; // tied head: the embedding's rows serve both
    const axis = variable.shape[0] === model.vocabSize ? 0 : variable.shape[1] === model.vocabSize ? 1 : -1;
    if (axis < 0) throw new Error(`'${name}' [${variable.shape}] has no axis of the vocabulary size ${model.vocabSize}`);
    out.push({ name: `rows.${name}`, variable, rows: { axis: axis as 0 | 1, index } });
  }
  if (out.length === 0) throw new Error(`the model has none of ${TOKEN_ROW_WEIGHTS.join(', ')}: cannot train the new token rows`);
  return out;
}

/** The fixed validation subset: `lossSamples` of them drawn once from the seed (all when 0 or more than exist). */
function pickValidation(data: FinetuneData, settings: FinetuneSettings, seed: number): PreparedSequence[] {
  const v = data.validation;
  if (!v || v.count === 0) return [];
  const k = settings.validation.lossSamples === 0 ? v.count : Math.min(v.count, settings.validation.lossSamples);
  const picked = k === v.count ? Int32Array.from({ length: k }, (_, i) => i) : rngFor(seed, 'finetune/validation').sample(v.count, k).sort();
  return Array.from(picked, (i) => prepareSequence(v.render(i), data.eosId, settings.maxLength, `validation sample ${i}`));
}

async function validate(
  model: CausalLM,
  lora: LoraAdapters | undefined,
  data: FinetuneData,
  samples: readonly PreparedSequence[],
  settings: FinetuneSettings,
  opts: FinetuneOptions,
  at: { epoch: number; step: number; trainLoss: number; truncatedPrompts: number },
): Promise<EpochRecord> {
  let lossSum = 0;
  let tokens = 0;
  const linear: LinearFn | undefined = lora?.linear();
  const order = Array.from(samples.keys()).sort((a, b) => samples[a]!.ids.length - samples[b]!.ids.length);
  for (let i = 0; i < order.length; i += settings.validation.batchSize) {
    opts.signal?.throwIfAborted();
    const batch = buildBatch(order.slice(i, i + settings.validation.batchSize).map((j) => samples[j]!), data.padId ?? data.eosId);
    const loss = tf.tidy(() => batchLossSum(model, batch, { linear, headTokens: opts.headTokens }));
    lossSum += loss.dataSync()[0] as number;
    loss.dispose();
    tokens += batch.targets.length;
    opts.onProgress?.({ phase: `validation epoch ${at.epoch}`, done: Math.min(i + settings.validation.batchSize, order.length), total: order.length });
    await yieldToEventLoop();
  }
  let recallAt10: number | null = null;
  if (opts.recallAt10 && settings.validation.recallUsers > 0) {
    const ctx = { epoch: at.epoch, step: at.step, users: settings.validation.recallUsers };
    recallAt10 = lora ? await lora.withMerged(() => opts.recallAt10!(ctx)) : await opts.recallAt10(ctx);
  }
  return { epoch: at.epoch, step: at.step, trainLoss: at.trainLoss, loss: tokens > 0 ? lossSum / tokens : null, tokens, recallAt10, truncatedPrompts: at.truncatedPrompts };
}

function capture(params: readonly TrainableParam[], optimizer: SlicedAdamW, best: Float32Array[] | undefined, meta: FinetuneMeta): FinetuneState {
  const tensors: Record<string, WritableTensor> = {};
  const moments = optimizer.moments();
  params.forEach((p, i) => {
    const shape = trainableShape(p);
    tensors[`param.${p.name}`] = { shape, data: readTrainable(p) };
    tensors[`adam.m.${p.name}`] = { shape, data: moments.m[i]! };
    tensors[`adam.v.${p.name}`] = { shape, data: moments.v[i]! };
    if (best) tensors[`best.${p.name}`] = { shape, data: best[i]! };
  });
  return { tensors, meta: structuredClone(meta) };
}

/** Loads values and moments; returns the best epoch's values when the checkpoint has them. */
function restore(state: FinetuneState, params: readonly TrainableParam[], optimizer: SlicedAdamW): Float32Array[] | undefined {
  const get = (name: string): Float32Array => {
    const t = state.tensors[name];
    if (!t || !(t.data instanceof Float32Array)) throw new Error(`fine-tuning checkpoint lacks float32 tensor '${name}'`);
    return t.data;
  };
  params.forEach((p) => writeTrainable(p, get(`param.${p.name}`)));
  optimizer.load({ step: state.meta.step, m: params.map((p) => get(`adam.m.${p.name}`)), v: params.map((p) => get(`adam.v.${p.name}`)) });
  const hasBest = params.every((p) => state.tensors[`best.${p.name}`] !== undefined);
  return hasBest && state.meta.best ? params.map((p) => get(`best.${p.name}`)) : undefined;
}
