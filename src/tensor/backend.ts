/**
 * Chooses the TensorFlow.js backend once per process and exports the single tfjs-core namespace
 * (`tf`) that all of src/ uses, so every tensor lives in one engine.
 *
 * Auto order: native TensorFlow (@tensorflow/tfjs-node-gpu, else @tensorflow/tfjs-node: optional
 * dependencies that only install where libtensorflow can be downloaded), else wasm (XNNPACK, SIMD),
 * else the pure-JS cpu backend (about 40x slower than wasm: a last resort and a test reference).
 * `LCREC_TENSOR_BACKEND` (auto|tensorflow|wasm|cpu) overrides `prefer`. An explicit choice that
 * cannot be honoured is an error, never a silent fallback.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// Side-effect imports register the backend factories; nothing initialises until setBackend.
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { BadInputError } from '../errors.js';
import './gradients.js'; // tfjs-core registers no gradients by itself

export { tf };

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;

export interface BackendInfo {
  name: BackendName;
  /** The npm package that provides the kernels. */
  package: string;
  /** wasm only: whether the SIMD binary runs (about 4x faster matMul). */
  simd: boolean | null;
  /** Threads the kernels may use; null where the native runtime decides. */
  threads: number | null;
  /** True only for @tensorflow/tfjs-node-gpu. */
  gpu: boolean;
}

export interface SelectBackendOptions {
  prefer?: BackendPreference;
  /** Receives the one line naming the choice; default: stderr, so stdout stays machine-readable. */
  log?: (line: string) => void;
}

export const BACKEND_ENV = 'LCREC_TENSOR_BACKEND';
const PREFERENCES: readonly BackendPreference[] = ['auto', 'tensorflow', 'wasm', 'cpu'];
const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;
const WASM_PACKAGE = '@tensorflow/tfjs-backend-wasm';
const CPU_PACKAGE = '@tensorflow/tfjs-backend-cpu';

let selected: Promise<BackendInfo> | undefined;

/**
 * Selects and initialises the backend. The first call decides for the whole process; later calls
 * (with any options) return the same info without logging again.
 */
export function selectBackend(opts: SelectBackendOptions = {}): Promise<BackendInfo> {
  selected ??= choose(opts).catch((error: unknown) => {
    selected = undefined; // a failed choice (bad env value, missing package) may be retried
    throw error;
  });
  return selected;
}

/** The info of the backend chosen so far, or undefined before selectBackend has finished. */
export async function selectedBackend(): Promise<BackendInfo | undefined> {
  return selected?.catch(() => undefined);
}

async function choose({ prefer = 'auto', log = (line) => console.error(line) }: SelectBackendOptions): Promise<BackendInfo> {
  const fromEnv = process.env[BACKEND_ENV];
  const wanted = fromEnv !== undefined && fromEnv !== '' ? parsePreference(fromEnv) : prefer;
  const source = fromEnv ? `${BACKEND_ENV}=${fromEnv}` : `prefer: '${prefer}'`;
  const where = fromEnv ? { field: BACKEND_ENV } : {};
  const notes: string[] = [];

  if (wanted === 'auto' || wanted === 'tensorflow') {
    const native = await tryNative(notes);
    if (native) return report(native, log);
    if (wanted === 'tensorflow') throw new BadInputError(`${source}, but ${notes.join('; ')}`, where);
  }
  if (wanted === 'auto' || wanted === 'wasm') {
    try {
      return report(await startWasm(), log);
    } catch (error) {
      if (wanted === 'wasm') throw new BadInputError(`${source}, but the wasm backend failed to start: ${message(error)}`, where);
      notes.push(`wasm failed: ${message(error)}`);
    }
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('the tfjs cpu backend failed to start');
  const info: BackendInfo = { name: 'cpu', package: CPU_PACKAGE, simd: null, threads: 1, gpu: false };
  return report(info, log, wanted === 'auto' ? notes : []);
}

function parsePreference(value: string): BackendPreference {
  const lower = value.trim().toLowerCase();
  if ((PREFERENCES as readonly string[]).includes(lower)) return lower as BackendPreference;
  throw new BadInputError(`'${value}' is not a tensor backend; use one of ${PREFERENCES.join(', ')}`, { field: BACKEND_ENV });
}

/** Loads the GPU build first; only if it fails the CPU build, so both never register 'tensorflow'. */
async function tryNative(notes: string[]): Promise<BackendInfo | undefined> {
  for (const pkg of NATIVE_PACKAGES) {
    try {
      await import(pkg as string); // a variable specifier: the packages are optional and usually absent
    } catch (error) {
      notes.push(`${pkg} is not available (${firstLine(message(error))})`);
      continue;
    }
    // tfjs keeps one engine per process (a global), even across copies of tfjs-core; check anyway,
    // since `tf` here must be the namespace the native kernels run under.
    if (tf.findBackendFactory('tensorflow') == null) {
      notes.push(`${pkg} loaded but its backend is not registered with this @tensorflow/tfjs-core (run npm dedupe)`);
      return undefined;
    }
    if (!(await tf.setBackend('tensorflow'))) {
      notes.push(`${pkg} loaded but its backend failed to start`);
      return undefined;
    }
    return { name: 'tensorflow', package: pkg, simd: null, threads: null, gpu: pkg === '@tensorflow/tfjs-node-gpu' };
  }
  return undefined;
}

async function startWasm(): Promise<BackendInfo> {
  // Point emscripten at the .wasm files of the installed package: its default guess (relative to
  // the bundle's URL) breaks under bundlers and tsx. Must happen before the backend initialises.
  const folder = dirname(createRequire(import.meta.url).resolve(WASM_PACKAGE));
  const simdSupported = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  const binary = simdSupported ? 'tfjs-backend-wasm-simd.wasm' : 'tfjs-backend-wasm.wasm';
  if (!existsSync(join(folder, binary))) throw new Error(`${binary} is missing from ${folder}`);
  setWasmPaths(folder + sep);
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
  // tfjs disables threads in Node (WASM_HAS_MULTITHREAD_SUPPORT is false there), so the binary
  // that runs is the SIMD one exactly when SIMD is supported.
  return { name: 'wasm', package: WASM_PACKAGE, simd: simdSupported, threads: getThreadsCount(), gpu: false };
}

function report(info: BackendInfo, log: (line: string) => void, notes: string[] = []): BackendInfo {
  log(`tensor backend: ${describeBackend(info)}${notes.length > 0 ? ` [${notes.join('; ')}]` : ''}`);
  return info;
}

/** `wasm (SIMD, 1 thread)`, `tensorflow (@tensorflow/tfjs-node-gpu, GPU)`, `cpu (pure JS, slow)`. */
export function describeBackend(info: BackendInfo): string {
  switch (info.name) {
    case 'wasm': {
      const threads = info.threads ?? 1;
      return `wasm (${info.simd ? 'SIMD' : 'no SIMD: slow'}, ${threads} thread${threads === 1 ? '' : 's'})`;
    }
    case 'tensorflow':
      return `tensorflow (${info.package}${info.gpu ? ', GPU' : ''})`;
    case 'cpu':
      return 'cpu (pure JS, slow)';
  }
}

function message(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error) return String((error as { message: unknown }).message);
  return String(error);
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}
