/**
 * Loading what the fine-tuning stage wrote, for the evaluation (src/eval/stage.ts ModelLoader):
 * the model directory (full fine-tuning, or LoRA saved with merged weights) with its extended
 * tokenizer, the code tokens' ids, and the seqrec prompt renderer over the run's prompts.
 * A LoRA run saved without merged weights cannot be evaluated here: its base would have to be
 * rebuilt (say so, and how to fix it).
 */
import { initTensorEngine } from '../tensor/init.js';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import type { LoadedModel, ModelLoader } from '../eval/stage.js';
import { loadQwen } from '../llm/checkpoint.js';
import { HfTokenizer } from '../llm/tokenizer.js';
import { parameterCount } from '../llm/weights.js';
import { readPromptContext } from '../prompts/files.js';
import { codeToken } from '../semid/vocabulary.js';
import { selectedBackend } from '../tensor/backend.js';
import { INDEX_FILE, SINGLE_FILE } from '../tensor/checkpoint.js';
import { ADAPTER_CONFIG } from './peft.js';
import { seqrecPromptRenderer } from './promptData.js';

const exists = (path: string) => access(path).then(() => true, () => false);

export const loadFinetunedModel: ModelLoader = async ({ dirs, semanticIds }): Promise<LoadedModel> => {
  await initTensorEngine();
  const dir = dirs['finetune'];
  const prompts = dirs['prompts'];
  if (!dir || !prompts) throw new Error(`loading the fine-tuned model needs the finetune and prompts outputs, got ${Object.keys(dirs).join(', ')}`);
  if (!(await exists(join(dir, SINGLE_FILE))) && !(await exists(join(dir, INDEX_FILE)))) {
    if (await exists(join(dir, ADAPTER_CONFIG))) {
      const base = (JSON.parse(await readFile(join(dir, ADAPTER_CONFIG), 'utf8')) as { base_model_name_or_path?: string }).base_model_name_or_path;
      throw new BadInputError(`this LoRA run saved only its adapter (base ${base}); set finetune.lora.saveMerged=true to evaluate it in the pipeline`, { field: 'finetune.lora.saveMerged' });
    }
    throw new BadInputError('no model.safetensors in the fine-tuning output', { file: dir });
  }
  const model = await loadQwen(dir);
  try {
    const tokenizer = await HfTokenizer.fromDir(dir);
    const { context } = await readPromptContext(prompts);
    const ids = new Map<string, number>();
    semanticIds.vocabulary.tokens().forEach((t) => {
      const id = tokenizer.tokenToId(t);
      if (id === undefined) throw new BadInputError(`the fine-tuned tokenizer lacks the code token ${t}`, { file: join(dir, 'tokenizer.json') });
      ids.set(t, id);
    });
    const config = model.config;
    const backend = await selectedBackend();
    return {
      sessions: model.sessions,
      tokens: { eosId: tokenizer.eosId, codeTokenId: (level, code) => ids.get(codeToken(level, code)) ?? -1 },
      renderPrompt: seqrecPromptRenderer(context, tokenizer),
      seqrecTemplates: context.templates.seqrec.map((t) => t.id),
      describe: `${config.model_type}, ${config.num_hidden_layers} layers, hidden ${config.hidden_size}, vocab ${config.vocab_size}, ${parameterCount(config).toLocaleString('en-US')} parameters, ${backend?.name ?? 'unknown'} backend`,
      dispose: () => model.dispose(),
    };
  } catch (error) {
    model.dispose();
    throw error;
  }
};
