/** The tensor engine layer: import from here. */
export { tf, selectBackend, selectedBackend, describeBackend, BACKEND_ENV } from './backend.js';
export type { BackendInfo, BackendName, BackendPreference, SelectBackendOptions } from './backend.js';
export { initTensorEngine } from './init.js';
export { matMul, linear, silu, gatherRows, straightThrough, squaredDistances, argMinRows, sinkhorn, sinkhornAssign, centerCosts } from './ops.js';
export { customOp, setLazyGradients, lazyGradientsActive } from './customOp.js';
export type { CustomOpSpec, GradientThunks } from './customOp.js';
export { Rng, deriveSeed, rngFor } from './rng.js';
export type { RngState } from './rng.js';
export { checkMemory, bytesOf, engineMemory, WASM_HEAP_MAX_BYTES } from './memory.js';
export type { EngineMemory, MemoryBudget, MemoryCheckOptions, TensorDtype } from './memory.js';
export { SafetensorsFile, decodeSafetensors, encodeSafetensors, writeSafetensors, halfToFloat } from './safetensors.js';
export type { HostTensor, WritableTensor, TensorMap, TensorSource, TensorEntry } from './safetensors.js';
export { ShardedCheckpoint, openCheckpoint, writeCheckpoint, INDEX_FILE, SINGLE_FILE } from './checkpoint.js';
export type { WriteCheckpointOptions, WrittenCheckpoint } from './checkpoint.js';
export { toTensor, fromTensor, loadTensors } from './hostTensor.js';
