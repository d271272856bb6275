/**
 * Fresh models for from-scratch presets, benchmarks and tests: a config from a few sizes, and
 * weights drawn as transformers initialises them (linear and embedding N(0, 0.02), norms 1,
 * biases 0), each tensor from its own stream rngFor(seed, name), so a tensor's values do not depend
 * on which other tensors exist.
 */
import { z } from 'zod';
import { tf } from '../tensor/backend.js';
import { rngFor } from '../tensor/rng.js';
import { parseQwenConfig } from './config.js';
import type { QwenConfig } from './config.js';
import { QwenModel } from './model.js';
import { INIT_STD, weightSpecs } from './weights.js';

/**
 * The shape of a from-scratch model, for config files (zod, with defaults). The vocabulary size
 * comes from the tokenizer (after adding code tokens or pruning), not from here.
 */
export const ScratchModelSchema = z.strictObject({
  modelType: z.enum(['qwen2', 'qwen3']).default('qwen3'),
  hiddenSize: z.int().min(8).max(16384).default(256),
  intermediateSize: z.int().min(8).max(65536).default(768),
  layers: z.int().min(1).max(128).default(4),
  heads: z.int().min(1).max(128).default(4),
  kvHeads: z.int().min(1).max(128).default(2),
  /** Per-head width; default hiddenSize / heads. */
  headDim: z.int().min(2).max(1024).nullable().default(null),
  ropeTheta: z.number().positive().default(1_000_000),
  rmsNormEps: z.number().positive().default(1e-6),
  tieWordEmbeddings: z.boolean().default(true),
  maxPositionEmbeddings: z.int().min(16).default(4096),
});
export type ScratchModel = z.infer<typeof ScratchModelSchema>;

/** A validated QwenConfig from scratch-model settings and the vocabulary size. */
export function scratchConfig(settings: Partial<ScratchModel>, vocabSize: number, tokens: { bos?: number | null; eos?: number | null; pad?: number | null } = {}): QwenConfig {
  const s = ScratchModelSchema.parse(settings);
  return parseQwenConfig(
    {
      model_type: s.modelType,
      vocab_size: vocabSize,
      hidden_size: s.hiddenSize,
      intermediate_size: s.intermediateSize,
      num_hidden_layers: s.layers,
      num_attention_heads: s.heads,
      num_key_value_heads: s.kvHeads,
      head_dim: s.headDim,
      rope_theta: s.ropeTheta,
      rms_norm_eps: s.rmsNormEps,
      tie_word_embeddings: s.tieWordEmbeddings,
      max_position_embeddings: s.maxPositionEmbeddings,
      bos_token_id: tokens.bos ?? null,
      eos_token_id: tokens.eos ?? null,
      pad_token_id: tokens.pad ?? null,
    },
    '<scratch model settings>',
  );
}

/** A model with freshly initialised weights; same config and seed, same weights. */
export function randomQwen(config: QwenConfig, seed: number): QwenModel {
  const weights = new Map<string, tf.Variable>();
  for (const spec of weightSpecs(config)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    if (spec.init === 'normal') rngFor(seed, spec.name).fillNormal(values, 0, INIT_STD);
    else if (spec.init === 'ones') values.fill(1);
    const t = tf.tensor(values, spec.shape, 'float32');
    weights.set(spec.name, tf.variable(t));
    t.dispose();
  }
  return new QwenModel(config, weights);
}
