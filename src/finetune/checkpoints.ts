/**
 * Fine-tuning checkpoints: the trainable values (all weights, or the LoRA adapters and the new
 * token rows), AdamW moments and step, the data cursor (epoch, micro-batches done, the shuffle
 * Rng at the epoch's start), the log so far and the best epoch's values. A checkpoint is one
 * directory of two files, `training.safetensors` (tensors, the step in its metadata) and
 * `training.json` (the rest, written last, naming the same step): a directory caught between the
 * two writes reads as incomplete.
 *
 * Where checkpoints live is a CheckpointStore: `LocalCheckpointDir` keeps the newest few as
 * `step-00000123` directories, each published by one rename; the Temporal adapter stores them in
 * the artifact store (activities/finetune.ts).
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../tensor/safetensors.js';
import type { WritableTensor } from '../tensor/safetensors.js';
import type { RngState } from '../tensor/rng.js';
import { publishDir } from '../util/atomicDir.js';
import type { EpochRecord, StepRow } from './trainingLog.js';

export const STATE_FORMAT = 'lcrec-finetune-training/1';
export const STATE_TENSORS = 'training.safetensors';
export const STATE_JSON = 'training.json';

export interface FinetuneMeta {
  format: typeof STATE_FORMAT;
  /** Canonical JSON digest of what must match to resume (settings, mode, data size, parameters). */
  fingerprint: string;
  step: number;
  /** Data cursor: the epoch (0-based) in progress and its micro-batches already done. */
  epoch: number;
  position: number;
  /** The shuffle Rng just before it planned epoch `epoch` (the plan is redrawn on resume). */
  rng: RngState;
  epochLossSum: number;
  epochTokens: number;
  steps: StepRow[];
  /** One record per finished epoch. */
  validation: EpochRecord[];
  /** The epoch whose values are the `best.*` tensors, with the metric that chose it. */
  best: { epoch: number; metric: number } | null;
}

export interface FinetuneState {
  /** `param.<name>`, `adam.m.<name>`, `adam.v.<name>`, `best.<name>` (float32). */
  tensors: Record<string, WritableTensor>;
  meta: FinetuneMeta;
}

/** Somewhere to keep checkpoints; `save` returns a reference (a directory, an artifact key). */
export interface CheckpointStore {
  save(state: FinetuneState): Promise<string>;
  /**
   * The newest complete checkpoint, or undefined to start fresh. `candidateSteps` (newest first)
   * are the steps a checkpoint of this run can have: stores that cannot list may probe them.
   */
  loadNewest(candidateSteps?: readonly number[]): Promise<FinetuneState | undefined>;
}

/** Writes a checkpoint's two files into `dir` (which should be fresh or the same checkpoint). */
export async function writeStateFiles(dir: string, state: FinetuneState): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, STATE_TENSORS), state.tensors, { format: STATE_FORMAT, step: String(state.meta.step) });
  const json = join(dir, STATE_JSON);
  await writeFile(`${json}.tmp-${process.pid}`, JSON.stringify(state.meta) + '\n');
  await rename(`${json}.tmp-${process.pid}`, json);
}

/** The checkpoint in `dir`, or undefined when the directory holds none or only half of one. */
export async function readStateFiles(dir: string): Promise<FinetuneState | undefined> {
  const jsonPath = join(dir, STATE_JSON);
  const tensorPath = join(dir, STATE_TENSORS);
  if (!(await exists(jsonPath)) || !(await exists(tensorPath))) return undefined;
  let meta: FinetuneMeta;
  try {
    meta = JSON.parse(await readFile(jsonPath, 'utf8')) as FinetuneMeta;
  } catch {
    return undefined; // a torn JSON cannot happen through rename, but a foreign file can
  }
  if (meta.format !== STATE_FORMAT) return undefined;
  const file = await SafetensorsFile.open(tensorPath);
  try {
    if (file.metadata['step'] !== String(meta.step)) return undefined;
    const tensors: Record<string, WritableTensor> = {};
    for (const name of file.names()) {
      const t = await file.read(name);
      if (!(t.data instanceof Float32Array)) throw new Error(`${tensorPath}: tensor '${name}' is ${t.dtype}, expected float32`);
      tensors[name] = { shape: t.shape, data: t.data };
    }
    return { meta, tensors };
  } finally {
    await file.close();
  }
}

const STEP_DIR = /^step-(\d{8,})$/;

/** Checkpoints in a local directory: `step-00000123/`, the newest `keep` of them. */
export class LocalCheckpointDir implements CheckpointStore {
  constructor(
    readonly root: string,
    readonly keep = 2,
  ) {}

  async save(state: FinetuneState): Promise<string> {
    await mkdir(this.root, { recursive: true });
    const name = `step-${String(state.meta.step).padStart(8, '0')}`;
    const scratch = join(this.root, `.${name}.tmp-${process.pid}`);
    await rm(scratch, { recursive: true, force: true });
    await writeStateFiles(scratch, state);
    const target = join(this.root, name);
    await publishDir(scratch, target, async (dir) => (await readStateFiles(dir)) !== undefined);
    await this.prune();
    return target;
  }

  async loadNewest(): Promise<FinetuneState | undefined> {
    for (const name of await this.stepDirs()) {
      const state = await readStateFiles(join(this.root, name));
      if (state) return state;
    }
    return undefined;
  }

  /** Step directories, newest first. */
  private async stepDirs(): Promise<string[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    return names.filter((n) => STEP_DIR.test(n)).sort((a, b) => Number(STEP_DIR.exec(b)![1]) - Number(STEP_DIR.exec(a)![1]));
  }

  private async prune(): Promise<void> {
    const dirs = await this.stepDirs();
    for (const name of dirs.slice(this.keep)) await rm(join(this.root, name), { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
