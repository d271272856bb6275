/**
 * The one entry point of the tensor engine: every part of src/ that needs tensors awaits
 * initTensorEngine() first, so one backend is chosen per process and is ready before use.
 */
import { selectBackend, tf } from './backend.js';
import type { BackendInfo, SelectBackendOptions } from './backend.js';

export async function initTensorEngine(opts: SelectBackendOptions = {}): Promise<BackendInfo> {
  const info = await selectBackend(opts);
  await tf.ready();
  return info;
}
