/**
 * Refuses, before any work starts, a job the chosen backend cannot hold. The wasm backend keeps
 * every tensor inside one WebAssembly memory that can grow to 4 GiB (minus one 64 KiB page) and
 * never shrinks; a job that outgrows it dies with an opaque abort mid-epoch. The cpu and native
 * backends are bounded by the machine's RAM. (GPU memory is not checked: tfjs-node-gpu reports it
 * nowhere before allocation.)
 */
import { totalmem } from 'node:os';
import { BadInputError } from '../errors.js';
import { tf } from './backend.js';
import type { BackendInfo } from './backend.js';

export type TensorDtype = 'float32' | 'int32' | 'bool';

/** Largest WebAssembly memory of the tfjs 4.22 wasm build (emscripten getHeapMax: 65536 pages - 1). */
export const WASM_HEAP_MAX_BYTES = 4294901760;
const GIB = 1024 ** 3;

/** Bytes of one dense tensor. */
export function bytesOf(shape: readonly number[], dtype: TensorDtype = 'float32'): number {
  let n = 1;
  for (const dim of shape) {
    if (!Number.isInteger(dim) || dim < 0) throw new RangeError(`bytesOf: bad dimension ${dim} in [${shape}]`);
    n *= dim;
  }
  return n * (dtype === 'bool' ? 1 : 4);
}

export interface MemoryCheckOptions {
  /**
   * Extra share on top of `bytes` for what an estimate misses: temporaries of the backward pass,
   * allocator fragmentation. Default 0.25.
   */
  margin?: number;
  /** For tests: the machine's memory instead of os.totalmem(). */
  totalMemBytes?: number;
}

export interface MemoryBudget {
  /** bytes x (1 + margin) */
  neededBytes: number;
  limitBytes: number;
}

/**
 * Throws a BadInputError when `bytes` (an estimate of the peak of live tensors for `what`, e.g.
 * "RQ-VAE training") plus the margin exceeds what `backend` can hold; returns the budget otherwise.
 */
export function checkMemory(bytes: number, backend: BackendInfo, what: string, opts: MemoryCheckOptions = {}): MemoryBudget {
  if (!Number.isFinite(bytes) || bytes < 0) throw new RangeError(`checkMemory: bytes must be a finite number >= 0, got ${bytes}`);
  const margin = opts.margin ?? 0.25;
  const ram = opts.totalMemBytes ?? totalmem();
  const neededBytes = bytes * (1 + margin);
  const wasm = backend.name === 'wasm';
  const limitBytes = wasm ? Math.min(WASM_HEAP_MAX_BYTES, ram) : ram;
  if (neededBytes <= limitBytes) return { neededBytes, limitBytes };

  const needed = `~${gib(neededBytes)} GiB`;
  const marginNote = margin > 0 ? ` (${gib(bytes)} GiB of tensors + ${Math.round(margin * 100)}% for temporaries)` : '';
  if (wasm && WASM_HEAP_MAX_BYTES <= ram) {
    throw new BadInputError(
      `${what} needs ${needed}${marginNote} but the wasm backend holds at most 4 GiB; use a smaller batch or install @tensorflow/tfjs-node`,
    );
  }
  throw new BadInputError(
    `${what} needs ${needed}${marginNote} but this machine has ${gib(ram)} GiB of memory (${backend.name} backend); use a smaller batch`,
  );
}

export interface EngineMemory {
  /** Live tensors and their bytes, as tfjs counts them: a number that grows every step is a leak. */
  tensors: number;
  tensorBytes: number;
  /** Size of the WebAssembly memory on wasm (it grows, never shrinks), else null. */
  wasmHeapBytes: number | null;
}

/** What the engine holds now: for progress logs and leak checks in long training loops. */
export function engineMemory(): EngineMemory {
  const { numTensors, numBytes } = tf.memory();
  const backend = tf.getBackend() === 'wasm' ? (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }) : undefined;
  return { tensors: numTensors, tensorBytes: numBytes, wasmHeapBytes: backend?.wasm?.HEAPU8?.length ?? null };
}

function gib(bytes: number): string {
  const value = bytes / GIB;
  return value >= 10 ? value.toFixed(0) : value.toFixed(1);
}
