/**
 * RQ-VAE tensors + JSON on disk:
 * - a training checkpoint (trainState.ts): `training.safetensors` + `training.json`;
 * - a trained model for the semantic-ID stage: `model.safetensors` + `rqvae.json` (settings, input width).
 * Each file is written atomically (temporary file + rename). The tensors go first and carry the
 * step in their metadata; the JSON goes last and must name the same step, so a directory caught
 * between the two writes reads as incomplete instead of mixing two checkpoints.
 */
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import { SafetensorsFile, writeSafetensors } from '../tensor/safetensors.js';
import type { WritableTensor } from '../tensor/safetensors.js';
import { Rqvae } from './model.js';
import type { RqvaeConfig } from './model.js';
import { validateRqvaeSettings } from './settings.js';
import { TRAINING_STATE_FORMAT } from './trainState.js';
import type { RqvaeTrainingMeta, RqvaeTrainingState } from './trainState.js';

export const TRAINING_TENSORS = 'training.safetensors';
export const TRAINING_JSON = 'training.json';
export const MODEL_TENSORS = 'model.safetensors';
export const MODEL_JSON = 'rqvae.json';
const MODEL_FORMAT = 'lcrec-rqvae-model/1';

export async function writeCheckpointDir(dir: string, state: RqvaeTrainingState): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, TRAINING_TENSORS), state.tensors, { format: TRAINING_STATE_FORMAT, step: String(state.meta.step) });
  await writeJsonAtomically(join(dir, TRAINING_JSON), state.meta);
}

/** The checkpoint in `dir`, or undefined when the directory holds none (or only half of one). */
export async function readCheckpointDir(dir: string): Promise<RqvaeTrainingState | undefined> {
  const jsonPath = join(dir, TRAINING_JSON);
  const tensorPath = join(dir, TRAINING_TENSORS);
  if (!(await exists(jsonPath)) || !(await exists(tensorPath))) return undefined;
  const meta = JSON.parse(await readFile(jsonPath, 'utf8')) as RqvaeTrainingMeta;
  const file = await SafetensorsFile.open(tensorPath);
  try {
    if (file.metadata['step'] !== String(meta.step)) return undefined; // tensors of another save than the JSON
    return { meta, tensors: await readFloatTensors(file) };
  } finally {
    await file.close();
  }
}

/** Writes a trained model (its current weights) for the semantic-ID stage. */
export async function writeModelDir(dir: string, model: Rqvae): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, MODEL_TENSORS), model.weights(), { format: MODEL_FORMAT });
  await writeJsonAtomically(join(dir, MODEL_JSON), { format: MODEL_FORMAT, ...model.config });
}

/** Loads a model written by writeModelDir; the caller disposes it. */
export async function readModelDir(dir: string): Promise<Rqvae> {
  const jsonPath = join(dir, MODEL_JSON);
  const raw = JSON.parse(await readFile(jsonPath, 'utf8')) as { format?: string } & Partial<RqvaeConfig>;
  if (raw.format !== MODEL_FORMAT || raw.settings === undefined || !Number.isInteger(raw.inputDim)) {
    throw new BadInputError(`not an RQ-VAE model description (format ${MODEL_FORMAT})`, { file: jsonPath });
  }
  validateRqvaeSettings(raw.settings);
  const file = await SafetensorsFile.open(join(dir, MODEL_TENSORS));
  let tensors: Record<string, WritableTensor>;
  try {
    tensors = await readFloatTensors(file);
  } finally {
    await file.close();
  }
  const model = new Rqvae({ inputDim: raw.inputDim!, settings: raw.settings });
  try {
    model.loadWeights(tensors);
  } catch (error) {
    model.dispose();
    throw new BadInputError((error as Error).message, { file: join(dir, MODEL_TENSORS) });
  }
  return model;
}

async function readFloatTensors(file: SafetensorsFile): Promise<Record<string, WritableTensor>> {
  const out: Record<string, WritableTensor> = {};
  for (const name of file.names()) {
    const t = await file.read(name);
    if (!(t.data instanceof Float32Array)) throw new BadInputError(`tensor '${name}' is ${t.dtype}, expected float32`, { file: file.path });
    out[name] = { shape: t.shape, data: t.data };
  }
  return out;
}

async function writeJsonAtomically(path: string, value: unknown): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  await writeFile(temp, JSON.stringify(value, null, 2) + '\n');
  await rename(temp, path);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
