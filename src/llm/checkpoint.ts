/**
 * Hugging Face model directories <-> QwenModel.
 *
 * Loading reads config.json, checks that the backend can hold the weights BEFORE allocating any
 * (the error names the backend), then reads model.safetensors or the shards of
 * model.safetensors.index.json one tensor at a time (bf16/f16 widened to float32 by the reader).
 * A missing weight, a tensor whose shape contradicts the config, a dtype we cannot use or a tensor
 * the architecture has no place for is a BadInputError naming the tensor and the file.
 *
 * Saving writes the same layout (config.json, model.safetensors or shards + index,
 * generation_config.json), so `AutoModelForCausalLM.from_pretrained(dir)` loads it. The directory
 * is written under a temporary name and renamed into place when complete; `addFiles` lets the
 * tokenizer side write its files into it before that.
 */
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BadInputError } from '../errors.js';
import { tf } from '../tensor/backend.js';
import type { BackendInfo } from '../tensor/backend.js';
import { initTensorEngine } from '../tensor/init.js';
import { checkMemory } from '../tensor/memory.js';
import { INDEX_FILE, openCheckpoint, writeCheckpoint } from '../tensor/checkpoint.js';
import { writeSafetensors } from '../tensor/safetensors.js';
import type { WritableTensor } from '../tensor/safetensors.js';
import { configJson, readQwenConfig } from './config.js';
import type { QwenConfig } from './config.js';
import { QwenModel } from './model.js';
import { isIgnorableExtra, weightSpecs } from './weights.js';

export const GENERATION_CONFIG_FILE = 'generation_config.json';

export interface LoadOptions {
  /** The backend the weights will live on; default: the engine's (initTensorEngine). */
  backend?: BackendInfo;
  /** Share of the weights' bytes added for activations and temporaries in the memory check (default 0.25). */
  memoryMargin?: number;
  /** For tests: the machine's memory instead of os.totalmem(). */
  totalMemBytes?: number;
}

/** Bytes of the model's weights as float32. */
export function weightBytes(config: QwenConfig): number {
  return weightSpecs(config).reduce((n, s) => n + 4 * s.shape.reduce((a, b) => a * b, 1), 0);
}

/** Loads a Qwen2/Qwen3 Hugging Face directory from a local path. */
export async function loadQwen(dir: string, opts: LoadOptions = {}): Promise<QwenModel> {
  const { config, raw } = await readQwenConfig(dir);
  const backend = opts.backend ?? (await initTensorEngine());
  checkMemory(weightBytes(config), backend, `the model in ${dir} (${config.model_type}, ${config.num_hidden_layers} layers, hidden ${config.hidden_size}, vocab ${config.vocab_size})`, {
    margin: opts.memoryMargin,
    totalMemBytes: opts.totalMemBytes,
  });

  let source;
  try {
    source = await openCheckpoint(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BadInputError('no model.safetensors or model.safetensors.index.json', { file: dir });
    throw error;
  }
  const weights = new Map<string, tf.Variable>();
  try {
    const specs = weightSpecs(config);
    const wanted = new Set(specs.map((s) => s.name));
    const missing = specs.filter((s) => !source.has(s.name)).map((s) => s.name);
    if (missing.length > 0) {
      const shown = missing.slice(0, 5).join(', ') + (missing.length > 5 ? `, ... (${missing.length} in all)` : '');
      throw new BadInputError(`missing weights the config requires: ${shown}`, { file: source.path });
    }
    const unexpected = source.names().filter((n) => !wanted.has(n) && !isIgnorableExtra(n, config));
    if (unexpected.length > 0) {
      throw new BadInputError(`tensors a ${config.model_type} model with this config has no place for: ${unexpected.slice(0, 5).join(', ')}`, { file: source.path });
    }
    for (const spec of specs) {
      const host = await source.read(spec.name).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
        throw new BadInputError(`tensor '${spec.name}': its shard file is missing (${error.path ?? error.message})`, { file: source.path });
      });
      if (host.dtype !== 'float32') {
        throw new BadInputError(`tensor '${spec.name}' holds ${host.dtype} values; weights must be floating point (F32, F16, BF16)`, { file: source.path });
      }
      if (!tf.util.arraysEqual(host.shape, spec.shape)) {
        throw new BadInputError(`tensor '${spec.name}' has shape [${host.shape}] but config.json implies [${spec.shape}]`, { file: source.path });
      }
      weights.set(spec.name, tf.variable(tf.tensor(host.data, host.shape, 'float32')));
    }
  } catch (error) {
    for (const w of weights.values()) w.dispose();
    throw error;
  } finally {
    await source.close();
  }
  const model = new QwenModel(config, weights, raw);
  model.generationConfig = await readGenerationConfig(dir);
  return model;
}

/** generation_config.json of a model directory when present (sampling defaults, eos ids), kept for saving. */
async function readGenerationConfig(dir: string): Promise<Record<string, unknown> | null> {
  const file = join(dir, GENERATION_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new BadInputError('not a JSON object', { file });
}

export interface SaveOptions {
  /** Shard the weights into files of at most this many bytes (with an index); default: one file. */
  maxShardBytes?: number;
  /**
   * Write generation_config.json: the loaded model's own (model.generationConfig), else one with
   * the bos/eos/pad ids of the config; default true.
   */
  generationConfig?: boolean;
  /** Writes more files (tokenizer.json, tokenizer_config.json...) into the directory before it is published. */
  addFiles?: (dir: string) => Promise<void>;
  /** Replace an existing directory at `dir`; default false (an existing directory is an error). */
  overwrite?: boolean;
}

/**
 * Saves `model` as a Hugging Face directory at `dir`. Weights are written as F32 with the
 * safetensors metadata {"format": "pt"} that transformers expects.
 */
export async function saveQwen(model: QwenModel, dir: string, opts: SaveOptions = {}): Promise<void> {
  if (!opts.overwrite && (await exists(dir))) throw new Error(`saveQwen: ${dir} already exists (pass overwrite: true to replace it)`);
  const temp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}-${Date.now()}`);
  await mkdir(temp, { recursive: true });
  try {
    await writeWeights(model, temp, opts.maxShardBytes ?? Infinity);
    const config = model.config;
    await writeJson(join(temp, 'config.json'), configJson(config, model.rawConfig));
    if ((opts.generationConfig ?? true) && model.generationConfig) {
      await writeJson(join(temp, GENERATION_CONFIG_FILE), model.generationConfig);
    } else if (opts.generationConfig ?? true) {
      const generation: Record<string, unknown> = { _from_model_config: true };
      if (config.bos_token_id !== null) generation['bos_token_id'] = config.bos_token_id;
      if (config.eos_token_id !== null) generation['eos_token_id'] = config.eos_token_id;
      if (config.pad_token_id !== null) generation['pad_token_id'] = config.pad_token_id;
      await writeJson(join(temp, GENERATION_CONFIG_FILE), generation);
    }
    if (opts.addFiles) await opts.addFiles(temp);
    if (opts.overwrite) await rm(dir, { recursive: true, force: true });
    await rename(temp, dir);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

const SAFETENSORS_METADATA = { format: 'pt' };

/**
 * model.safetensors, or shards named and filled as writeCheckpoint (src/tensor/checkpoint.ts) does
 * (name order, greedy up to `maxShardBytes`) plus the index. Shard by shard, so the host holds one
 * shard's values at a time, not the whole model.
 */
async function writeWeights(model: QwenModel, dir: string, maxShardBytes: number): Promise<void> {
  if (!(maxShardBytes > 0)) throw new RangeError(`saveQwen: maxShardBytes must be > 0, got ${maxShardBytes}`);
  const names = [...model.weights.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const bytes = (name: string) => 4 * (model.weights.get(name) as tf.Variable).size;
  const groups: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const name of names) {
    if (current.length > 0 && size + bytes(name) > maxShardBytes) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(name);
    size += bytes(name);
  }
  groups.push(current);
  const read = async (group: string[]) => {
    const tensors = new Map<string, WritableTensor>();
    for (const name of group) {
      const w = model.weights.get(name) as tf.Variable;
      tensors.set(name, { shape: [...w.shape], data: (await w.data()) as Float32Array });
    }
    return tensors;
  };
  if (groups.length === 1) {
    await writeCheckpoint(dir, await read(groups[0] as string[]), { metadata: SAFETENSORS_METADATA });
    return;
  }
  const total = String(groups.length).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  for (const [i, group] of groups.entries()) {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${total}.safetensors`;
    await writeSafetensors(join(dir, file), await read(group), SAFETENSORS_METADATA);
    for (const name of group) weightMap[name] = file;
  }
  const index = { metadata: { total_size: names.reduce((n, name) => n + bytes(name), 0) }, weight_map: weightMap };
  await writeFile(join(dir, INDEX_FILE), JSON.stringify(index, null, 2) + '\n');
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(value, null, 2) + '\n');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
