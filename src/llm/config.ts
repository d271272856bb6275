/**
 * The Qwen-family `config.json`: validated with zod, names as Hugging Face writes them, so a
 * checkpoint's config maps one-to-one onto `QwenConfig`. Both rope layouts are read:
 * transformers 4.x (`rope_theta` + `rope_scaling`) and 5.x (`rope_parameters`). Anything the
 * forward pass would silently get wrong (an unknown model_type, a rope scaling we do not
 * implement, sliding-window attention, another activation) is refused with the field named.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { BadInputError } from '../errors.js';

export const MODEL_TYPES = ['qwen2', 'qwen3'] as const;
export type ModelType = (typeof MODEL_TYPES)[number];
export const CONFIG_FILE = 'config.json';

/** Rotary scaling we implement: none, or HF "linear" (inverse frequencies divided by `factor`). */
export type RopeScaling = { type: 'default' } | { type: 'linear'; factor: number };

export interface QwenConfig {
  model_type: ModelType;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  /** Per-head width; Qwen3 may set it apart from hidden_size / num_attention_heads. */
  head_dim: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling: RopeScaling;
  tie_word_embeddings: boolean;
  /** Qwen3: bias on q/k/v/o. Qwen2 always has q/k/v bias (and no o bias) whatever this says. */
  attention_bias: boolean;
  max_position_embeddings: number;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
  pad_token_id: number | null;
}

const positive = z.int().min(1);
const tokenId = z.int().min(0).nullable().optional();

const RopeDict = z.looseObject({
  rope_type: z.string().optional(),
  type: z.string().optional(),
  factor: z.number().positive().optional(),
  rope_theta: z.number().positive().optional(),
  partial_rotary_factor: z.number().optional(),
});

const RawConfig = z.looseObject({
  model_type: z.string(),
  vocab_size: positive,
  hidden_size: positive,
  intermediate_size: positive,
  num_hidden_layers: positive,
  num_attention_heads: positive,
  num_key_value_heads: positive.nullable().optional(),
  head_dim: positive.nullable().optional(),
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().optional(),
  rope_scaling: RopeDict.nullable().optional(),
  rope_parameters: RopeDict.nullable().optional(),
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.boolean().default(false),
  max_position_embeddings: positive.default(32768),
  hidden_act: z.string().default('silu'),
  partial_rotary_factor: z.number().optional(),
  layer_types: z.array(z.string()).nullable().optional(),
  use_sliding_window: z.boolean().default(false),
  bos_token_id: tokenId,
  eos_token_id: z.union([z.int().min(0), z.array(z.int().min(0))]).nullable().optional(),
  pad_token_id: tokenId,
});

/** transformers' default rope base when a config names none. */
const DEFAULT_THETA = 10_000;

/** Validates a parsed config.json; `file` is named in every error. */
export function parseQwenConfig(raw: unknown, file = CONFIG_FILE): QwenConfig {
  const result = RawConfig.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new BadInputError(issue.message, { file, field: issue.path.join('.') || undefined });
  }
  const c = result.data;
  if (!(MODEL_TYPES as readonly string[]).includes(c.model_type)) {
    throw new BadInputError(`model_type '${c.model_type}' is not supported (supported: ${MODEL_TYPES.join(', ')})`, { file, field: 'model_type' });
  }
  if (c.hidden_act !== 'silu') throw new BadInputError(`hidden_act '${c.hidden_act}' is not supported (Qwen uses silu)`, { file, field: 'hidden_act' });
  if (c.use_sliding_window) throw new BadInputError('sliding-window attention is not supported', { file, field: 'use_sliding_window' });
  const partial = c.rope_parameters?.partial_rotary_factor ?? c.partial_rotary_factor ?? 1;
  if (partial !== 1) throw new BadInputError(`partial_rotary_factor ${partial} is not supported (rotary over the whole head only)`, { file, field: 'partial_rotary_factor' });
  const sliding = (c.layer_types ?? []).findIndex((t) => t !== 'full_attention');
  if (sliding >= 0) throw new BadInputError(`layer ${sliding} is '${c.layer_types![sliding]}'; only full attention is supported`, { file, field: 'layer_types' });
  const heads = c.num_attention_heads;
  const kvHeads = c.num_key_value_heads ?? heads;
  if (heads % kvHeads !== 0) {
    throw new BadInputError(`num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`, { file, field: 'num_key_value_heads' });
  }
  if (c.head_dim == null && c.hidden_size % heads !== 0) {
    throw new BadInputError(`hidden_size ${c.hidden_size} is not divisible by num_attention_heads ${heads}; set head_dim`, { file, field: 'head_dim' });
  }
  const headDim = c.head_dim ?? c.hidden_size / heads;
  if (headDim % 2 !== 0) throw new BadInputError(`head_dim ${headDim} must be even for rotary embeddings`, { file, field: 'head_dim' });

  // 5.x keeps theta inside rope_parameters; 4.x at the top with scaling in rope_scaling.
  const ropeField = c.rope_parameters != null ? 'rope_parameters' : 'rope_scaling';
  const rope = c.rope_parameters ?? c.rope_scaling ?? null;
  return {
    model_type: c.model_type as ModelType,
    vocab_size: c.vocab_size,
    hidden_size: c.hidden_size,
    intermediate_size: c.intermediate_size,
    num_hidden_layers: c.num_hidden_layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    rms_norm_eps: c.rms_norm_eps,
    rope_theta: rope?.rope_theta ?? c.rope_theta ?? DEFAULT_THETA,
    rope_scaling: parseScaling(rope, file, ropeField),
    tie_word_embeddings: c.tie_word_embeddings,
    attention_bias: c.attention_bias,
    max_position_embeddings: c.max_position_embeddings,
    bos_token_id: c.bos_token_id ?? null,
    eos_token_id: c.eos_token_id ?? null,
    pad_token_id: c.pad_token_id ?? null,
  };
}

function parseScaling(rope: z.infer<typeof RopeDict> | null, file: string, field: string): RopeScaling {
  const type = rope?.rope_type ?? rope?.type ?? 'default';
  if (type === 'default') return { type: 'default' };
  if (type === 'linear') {
    if (rope?.factor === undefined) throw new BadInputError('linear rope scaling needs a "factor"', { file, field: `${field}.factor` });
    return { type: 'linear', factor: rope.factor };
  }
  throw new BadInputError(`rope type '${type}' is not supported (supported: default, linear)`, { file, field: `${field}.rope_type` });
}

/** Reads and validates `dir/config.json`. */
export async function readQwenConfig(dir: string): Promise<{ config: QwenConfig; raw: Record<string, unknown> }> {
  const file = join(dir, CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BadInputError('no config.json: not a Hugging Face model directory', { file });
    throw error;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new BadInputError(`not valid JSON (${(error as Error).message})`, { file });
  }
  const config = parseQwenConfig(raw, file);
  return { config, raw: raw as Record<string, unknown> };
}

/** Architecture class name transformers instantiates for each model_type. */
const ARCHITECTURES: Record<ModelType, string> = { qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' };

/**
 * The config.json to save: `base` (the loaded file, so keys we do not model survive) overlaid with
 * our values. Rope is written in the 4.x layout (`rope_theta` + `rope_scaling`), which transformers
 * 5.x still reads, and a 5.x `rope_parameters` is dropped so the two cannot disagree.
 */
export function configJson(config: QwenConfig, base: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  delete out['rope_parameters'];
  Object.assign(out, {
    architectures: [ARCHITECTURES[config.model_type]],
    model_type: config.model_type,
    vocab_size: config.vocab_size,
    hidden_size: config.hidden_size,
    intermediate_size: config.intermediate_size,
    num_hidden_layers: config.num_hidden_layers,
    num_attention_heads: config.num_attention_heads,
    num_key_value_heads: config.num_key_value_heads,
    head_dim: config.head_dim,
    rms_norm_eps: config.rms_norm_eps,
    rope_theta: config.rope_theta,
    rope_scaling: config.rope_scaling.type === 'linear' ? { rope_type: 'linear', factor: config.rope_scaling.factor } : null,
    tie_word_embeddings: config.tie_word_embeddings,
    max_position_embeddings: config.max_position_embeddings,
    hidden_act: 'silu',
    bos_token_id: config.bos_token_id,
    eos_token_id: config.eos_token_id,
    pad_token_id: config.pad_token_id,
    dtype: 'float32', // what we write; transformers 4.x reads the older key below
  });
  if ('torch_dtype' in out) out['torch_dtype'] = 'float32';
  if (config.model_type === 'qwen3') out['attention_bias'] = config.attention_bias;
  return out;
}

/** Whether q/k/v (and o) projections carry a bias in this architecture. */
export function projectionBias(config: QwenConfig): { qkv: boolean; o: boolean } {
  if (config.model_type === 'qwen2') return { qkv: true, o: false };
  return { qkv: config.attention_bias, o: config.attention_bias };
}
