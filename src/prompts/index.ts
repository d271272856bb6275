/** The prompts library: what the stage, the trainer and the evaluation use. */
export { epochSample, type EpochSample, type TemplateDrawer } from './epochSample.js';
export {
  PROMPT_SPLITS,
  SPLIT_FILES,
  readItemText,
  readPromptContext,
  readSampleUnits,
  type PromptSplit,
  type PromptsManifest,
} from './files.js';
export { fitSample, type Encode, type FitOptions, type FittedSample } from './fit.js';
export { RESPONSE_MARKER, SFT_HEADER, renderHistory, renderSample, sftPrompt, type PromptContext, type RenderedSample } from './render.js';
export type { SampleUnit } from './sampleUnit.js';
export { DEFAULT_PROMPTS_SETTINGS, PROMPTS_PRESETS, PromptsSettingsSchema, type PromptsSettings } from './settings.js';
export { PROMPTS_CODE_VERSION, runPromptsStage } from './stage.js';
export { drawTemplate, templateDrawer } from './templateDraw.js';
export { PROMPT_TASKS, TEMPLATES, type PromptTask } from './templates.js';
