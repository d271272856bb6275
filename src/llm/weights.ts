/**
 * The weight table of a Qwen model: every tensor's Hugging Face name, shape and initial value
 * kind, derived from the config alone. Loading, saving, random initialisation and the memory
 * check all read this one table, so a checkpoint maps onto the model by name.
 *
 * Layout is exactly HF's: linear weights are [out, in] (torch nn.Linear), embeddings and the
 * head [vocab, hidden]. `torchLinear` (linear.ts) applies them without a transposed matMul.
 */
import { projectionBias } from './config.js';
import type { QwenConfig } from './config.js';

export type InitKind = 'normal' | 'ones' | 'zeros';

export interface WeightSpec {
  name: string;
  shape: number[];
  /** How a fresh model initialises it: normal(0, 0.02) as transformers' initializer_range, norms 1, biases 0. */
  init: InitKind;
}

export const EMBED = 'model.embed_tokens.weight';
export const LM_HEAD = 'lm_head.weight';
export const FINAL_NORM = 'model.norm.weight';
/** transformers' default initializer_range: std of fresh linear and embedding weights. */
export const INIT_STD = 0.02;

/** The HF module path of a layer's part, e.g. layerModule(0, 'self_attn.q_proj'). */
export function layerModule(layer: number, part: string): string {
  return `model.layers.${layer}.${part}`;
}

const ATTENTION = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj'] as const;
const MLP = ['mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'] as const;

/** HF module paths of every linear layer of the forward, layer by layer (LoRA target matching). */
export function linearModuleNames(config: QwenConfig): string[] {
  const out: string[] = [];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    for (const part of [...ATTENTION, ...MLP]) out.push(layerModule(i, part));
  }
  return out;
}

/** Every tensor of the model, in a stable order. A tied head has no lm_head.weight of its own. */
export function weightSpecs(config: QwenConfig): WeightSpec[] {
  const d = config.hidden_size;
  const q = config.num_attention_heads * config.head_dim;
  const kv = config.num_key_value_heads * config.head_dim;
  const inner = config.intermediate_size;
  const bias = projectionBias(config);
  const specs: WeightSpec[] = [{ name: EMBED, shape: [config.vocab_size, d], init: 'normal' }];
  const add = (name: string, shape: number[], init: InitKind) => specs.push({ name, shape, init });
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const m = (part: string) => layerModule(i, part);
    add(`${m('input_layernorm')}.weight`, [d], 'ones');
    const outs: Record<(typeof ATTENTION)[number], number> = { 'self_attn.q_proj': q, 'self_attn.k_proj': kv, 'self_attn.v_proj': kv, 'self_attn.o_proj': d };
    for (const part of ATTENTION) {
      const isO = part === 'self_attn.o_proj';
      add(`${m(part)}.weight`, [outs[part], isO ? q : d], 'normal');
      if (isO ? bias.o : bias.qkv) add(`${m(part)}.bias`, [outs[part]], 'zeros');
    }
    if (config.model_type === 'qwen3') {
      add(`${m('self_attn.q_norm')}.weight`, [config.head_dim], 'ones');
      add(`${m('self_attn.k_norm')}.weight`, [config.head_dim], 'ones');
    }
    add(`${m('post_attention_layernorm')}.weight`, [d], 'ones');
    add(`${m('mlp.gate_proj')}.weight`, [inner, d], 'normal');
    add(`${m('mlp.up_proj')}.weight`, [inner, d], 'normal');
    add(`${m('mlp.down_proj')}.weight`, [d, inner], 'normal');
  }
  add(FINAL_NORM, [d], 'ones');
  if (!config.tie_word_embeddings) add(LM_HEAD, [config.vocab_size, d], 'normal');
  return specs;
}

/** Number of parameters (a tied head counted once). */
export function parameterCount(config: QwenConfig): number {
  return weightSpecs(config).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Tensors a checkpoint may hold that the model does not use: rotary frequency buffers of old
 * exports, and a copy of the embedding as lm_head.weight when the head is tied.
 */
export function isIgnorableExtra(name: string, config: QwenConfig): boolean {
  if (name.endsWith('.rotary_emb.inv_freq')) return true;
  return config.tie_word_embeddings && name === LM_HEAD;
}
