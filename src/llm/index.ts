/** The Qwen model side of src/llm: import from here. (Tokenizer modules are exported by their own files.) */
export type { CausalLM, ForwardOptions, LinearFn } from './contract.js';
export { MODEL_TYPES, CONFIG_FILE, parseQwenConfig, readQwenConfig, configJson, projectionBias } from './config.js';
export type { ModelType, QwenConfig, RopeScaling } from './config.js';
export { QwenModel } from './model.js';
export type { AttendFn } from './model.js';
export { torchLinear, hfLinear } from './linear.js';
export { loadQwen, saveQwen, weightBytes, GENERATION_CONFIG_FILE } from './checkpoint.js';
export type { LoadOptions, SaveOptions } from './checkpoint.js';
export { randomQwen, scratchConfig, ScratchModelSchema } from './random.js';
export type { ScratchModel } from './random.js';
export { resizeVocabulary, reinitRows, keepRows, applyVocabularyPlan } from './embeddingRows.js';
export type { RowInit } from './embeddingRows.js';
export { weightSpecs, linearModuleNames, parameterCount, layerModule, EMBED, LM_HEAD, FINAL_NORM, INIT_STD } from './weights.js';
export type { WeightSpec } from './weights.js';
