/**
 * Checkpoints as directories the Hugging Face way: one `model.safetensors`, or shards
 * (`model-00001-of-00003.safetensors`, ...) listed by `model.safetensors.index.json`, whose
 * `weight_map` maps each tensor name to its shard. Shards are opened lazily, on the first read of
 * one of their tensors, so loading a few tensors of a large checkpoint touches only their files.
 */
import { access, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { BadInputError } from '../errors.js';
import { SafetensorsFile, writableEntries, writeSafetensors } from './safetensors.js';
import type { HostTensor, TensorMap, TensorSource, WritableTensor } from './safetensors.js';

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

/** A checkpoint split over shards by model.safetensors.index.json; shards open on first use. */
export class ShardedCheckpoint implements TensorSource {
  private readonly shards = new Map<string, Promise<SafetensorsFile>>();

  private constructor(
    readonly path: string,
    /** The index's "metadata" object as written (HF puts total_size there, a number). */
    readonly metadata: Record<string, unknown>,
    private readonly weightMap: Map<string, string>,
  ) {}

  static async open(indexPath: string): Promise<ShardedCheckpoint> {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(indexPath, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
      throw new BadInputError(`not a safetensors index: ${(error as Error).message}`, { file: indexPath });
    }
    const index = raw as { weight_map?: unknown; metadata?: unknown };
    const map = index?.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new BadInputError('the index has no "weight_map" object', { file: indexPath });
    const weightMap = new Map<string, string>();
    for (const [name, shard] of Object.entries(map)) {
      if (typeof shard !== 'string' || shard === '' || isAbsolute(shard) || normalize(shard).split(sep).includes('..')) {
        throw new BadInputError(`weight_map '${name}' names shard ${JSON.stringify(shard)}, not a file next to the index`, { file: indexPath });
      }
      weightMap.set(name, shard);
    }
    const metadata = typeof index.metadata === 'object' && index.metadata !== null ? (index.metadata as Record<string, unknown>) : {};
    return new ShardedCheckpoint(indexPath, metadata, weightMap);
  }

  names(): string[] {
    return [...this.weightMap.keys()].sort();
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  /** Shard files named by the index, sorted. */
  shardFiles(): string[] {
    return [...new Set(this.weightMap.values())].sort();
  }

  /** Shards opened so far (reading is lazy). */
  openedShards(): string[] {
    return [...this.shards.keys()].sort();
  }

  async read(name: string): Promise<HostTensor> {
    const shardName = this.weightMap.get(name);
    if (shardName === undefined) throw new BadInputError(`no tensor named '${name}' in the weight_map`, { file: this.path });
    let shard = this.shards.get(shardName);
    if (!shard) {
      shard = SafetensorsFile.open(join(dirname(this.path), shardName));
      this.shards.set(shardName, shard);
      shard.catch(() => this.shards.delete(shardName));
    }
    const file = await shard;
    if (!file.has(name)) throw new BadInputError(`the index puts tensor '${name}' in ${shardName}, but that shard has no such tensor`, { file: this.path });
    return file.read(name);
  }

  async close(): Promise<void> {
    const opened = await Promise.allSettled(this.shards.values());
    this.shards.clear();
    await Promise.all(opened.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
  }
}

/**
 * Opens a checkpoint given a .safetensors file, an index .json, or a directory holding
 * model.safetensors.index.json (preferred) or model.safetensors.
 */
export async function openCheckpoint(path: string): Promise<TensorSource> {
  if (path.endsWith('.json')) return ShardedCheckpoint.open(path);
  if (path.endsWith('.safetensors')) return SafetensorsFile.open(path);
  if (!(await stat(path)).isDirectory()) return SafetensorsFile.open(path);
  const index = join(path, INDEX_FILE);
  if (await exists(index)) return ShardedCheckpoint.open(index);
  const single = join(path, SINGLE_FILE);
  if (await exists(single)) return SafetensorsFile.open(single);
  throw new BadInputError(`no ${INDEX_FILE} or ${SINGLE_FILE} in this directory`, { file: path });
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export interface WriteCheckpointOptions {
  /** Start a new shard before a shard would exceed this many data bytes; no limit by default. */
  maxShardBytes?: number;
  /** The `__metadata__` of every file written. */
  metadata?: Record<string, string>;
}

export interface WrittenCheckpoint {
  /** Files written, relative to the directory, in order. */
  files: string[];
  /** The index file, when sharded. */
  index?: string;
}

/**
 * Writes `dir/model.safetensors`, or, when the tensors exceed `maxShardBytes`, shards named like
 * Hugging Face's (`model-00001-of-00003.safetensors`) plus `model.safetensors.index.json`.
 * Tensors go to shards greedily in name order; a tensor larger than the limit gets a shard alone.
 * A stale single file or index of the other kind is removed, so openCheckpoint(dir) cannot
 * pick up an old one.
 */
export async function writeCheckpoint(dir: string, tensors: TensorMap, opts: WriteCheckpointOptions = {}): Promise<WrittenCheckpoint> {
  const entries = writableEntries(tensors); // validates all before any file is written
  const max = opts.maxShardBytes ?? Infinity;
  if (!(max > 0)) throw new RangeError(`writeCheckpoint: maxShardBytes must be > 0, got ${max}`);
  const groups: Array<Array<[string, WritableTensor]>> = [];
  let current: Array<[string, WritableTensor]> = [];
  let size = 0;
  for (const entry of entries) {
    const bytes = entry[1].data.byteLength;
    if (current.length > 0 && size + bytes > max) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(entry);
    size += bytes;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);

  if (groups.length === 1) {
    await rm(join(dir, INDEX_FILE), { force: true });
    await writeSafetensors(join(dir, SINGLE_FILE), new Map(groups[0]), opts.metadata);
    return { files: [SINGLE_FILE] };
  }
  const total = String(groups.length).padStart(5, '0');
  const files = groups.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${total}.safetensors`);
  const weightMap: Record<string, string> = {};
  for (const [i, group] of groups.entries()) {
    await writeSafetensors(join(dir, files[i] as string), new Map(group), opts.metadata);
    for (const [name] of group) weightMap[name] = files[i] as string;
  }
  const totalSize = entries.reduce((a, [, t]) => a + t.data.byteLength, 0);
  // The shape of transformers' index: names sorted, 2-space indent, trailing newline.
  const index = JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n';
  const temp = join(dir, `${INDEX_FILE}.tmp-${process.pid}`);
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(index);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, join(dir, INDEX_FILE));
  await rm(join(dir, SINGLE_FILE), { force: true });
  return { files, index: INDEX_FILE };
}
