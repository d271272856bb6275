/**
 * The bridge between host typed arrays (safetensors, checkpoints) and tf tensors of the shared
 * engine. Kept apart from safetensors.ts so the file format stays free of tf.
 */
import { tf } from './backend.js';
import type { HostTensor, TensorSource, WritableTensor } from './safetensors.js';

/** A tf tensor of a host tensor; uint8 widens to int32 (tfjs has no uint8 dtype). */
export function toTensor(host: HostTensor): tf.Tensor {
  if (host.dtype === 'uint8') return tf.tensor(Int32Array.from(host.data), host.shape, 'int32');
  return tf.tensor(host.data, host.shape, host.dtype);
}

/** The values of a float32 or int32 tf tensor, ready for writeSafetensors/writeCheckpoint. */
export async function fromTensor(t: tf.Tensor): Promise<WritableTensor> {
  if (t.dtype !== 'float32' && t.dtype !== 'int32') throw new TypeError(`fromTensor: cannot save a ${t.dtype} tensor (float32 or int32 only)`);
  const data = (await t.data()) as Float32Array | Int32Array;
  return { shape: [...t.shape], data };
}

/** Several tensors of a checkpoint as tf tensors (all of them by default); the caller disposes them. */
export async function loadTensors(source: TensorSource, names: readonly string[] = source.names()): Promise<Map<string, tf.Tensor>> {
  const out = new Map<string, tf.Tensor>();
  try {
    for (const name of names) out.set(name, toTensor(await source.read(name)));
  } catch (error) {
    for (const t of out.values()) t.dispose();
    throw error;
  }
  return out;
}
