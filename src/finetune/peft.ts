/**
 * Saving a LoRA run in PEFT's layout, so `PeftModel.from_pretrained(base, dir)` loads it:
 * - adapter_config.json: peft_type LORA, r, lora_alpha, lora_dropout, target_modules (the matched
 *   module paths), task_type CAUSAL_LM, and `trainable_token_indices` when the new tokens' rows
 *   trained (PEFT >= 0.15's TrainableTokens, which stores the trained rows themselves);
 * - adapter_model.safetensors: `base_model.model.<module>.lora_A.weight` [r, in] and `.lora_B.weight`
 *   [out, r], and `base_model.model.<embedding or head module>.token_adapter.trainable_tokens_delta`
 *   [tokens, hidden] (the rows' values, not differences, despite the name).
 * Merged weights (W + alpha/r B A, trained token rows in place) are the model's own tensors: the
 * caller writes them with the model's checkpoint writer.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CausalLM } from '../llm/contract.js';
import { tf } from '../tensor/backend.js';
import { writeSafetensors } from '../tensor/safetensors.js';
import type { WritableTensor } from '../tensor/safetensors.js';
import type { LoraAdapters } from './lora.js';
import { readTrainable, trainableShape } from './params.js';
import type { TrainableParam } from './params.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

export interface PeftSaveOptions {
  /** Recorded as base_model_name_or_path (a path or hub id of the base model). */
  baseModel: string;
  /** The row-sliced parameters of the new tokens (`rows.<weight name>`), if they trained. */
  tokenRows?: readonly TrainableParam[];
}

/** Writes adapter_config.json + adapter_model.safetensors into `dir` (each file atomically). */
export async function savePeftAdapter(dir: string, lora: LoraAdapters, opts: PeftSaveOptions): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tensors = new Map<string, WritableTensor>(lora.peftTensors());
  const tokenIndices: Record<string, number[]> = {};
  for (const p of opts.tokenRows ?? []) {
    if (!p.rows) continue;
    const module = moduleOfWeight(p.name.replace(/^rows\./, ''));
    tensors.set(`base_model.model.${module}.token_adapter.trainable_tokens_delta`, { shape: trainableShape(p), data: readTrainable(p) });
    tokenIndices[module.slice(module.lastIndexOf('.') + 1)] = Array.from(p.rows.index);
  }
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: opts.baseModel,
    r: lora.config.rank,
    lora_alpha: lora.config.alpha,
    lora_dropout: lora.config.dropout,
    target_modules: [...lora.modules],
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    use_rslora: false,
    use_dora: false,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    trainable_token_indices: Object.keys(tokenIndices).length > 0 ? tokenIndices : null,
    revision: null,
  };
  await writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  const temp = join(dir, `${ADAPTER_CONFIG}.tmp-${process.pid}`);
  await writeFile(temp, JSON.stringify(config, null, 2) + '\n');
  await rename(temp, join(dir, ADAPTER_CONFIG));
}

/** `model.embed_tokens.weight` -> `model.embed_tokens`. */
function moduleOfWeight(name: string): string {
  return name.endsWith('.weight') ? name.slice(0, -'.weight'.length) : name;
}

/**
 * Every weight of the model with the adapters merged in: targeted linear weights become
 * W + alpha/r B A (in the model's layout); the token rows are already in the model's tables.
 * Host copies, ready for a checkpoint writer.
 */
export function mergedWeights(model: CausalLM, lora: LoraAdapters): Map<string, WritableTensor> {
  const out = new Map<string, WritableTensor>();
  const merged = new Set(lora.modules.map((m) => lora.access.weightName(m)));
  for (const module of lora.modules) {
    const t = lora.mergedWeight(module);
    out.set(lora.access.weightName(module), { shape: [...t.shape], data: (t.dataSync() as Float32Array).slice() });
    t.dispose();
  }
  for (const [name, v] of model.weights) {
    if (!merged.has(name)) out.set(name, { shape: [...v.shape], data: tf.tidy(() => v.dataSync() as Float32Array).slice() });
  }
  return out;
}
