/**
 * The ModelLoader of a pipeline run (stage.ts): the fine-tuned model and tokenizer from the
 * finetune stage's directory (Hugging Face layout: config.json, model.safetensors, tokenizer
 * files; for LoRA the merged model, `finetune.lora.saveMerged`), and the seqrec prompts from the
 * prompts stage's directory (templates, item tokens, history format), rendered and tokenized the
 * way the trainer saw them: `tokenizer.encode(renderSample(unit).prompt)`.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import { loadQwen } from '../llm/checkpoint.js';
import { CONFIG_FILE } from '../llm/config.js';
import { HfTokenizer } from '../llm/tokenizer.js';
import { readPromptContext } from '../prompts/files.js';
import { renderSample } from '../prompts/render.js';
import type { SampleUnit } from '../prompts/sampleUnit.js';
import { SEQREC_SUBTYPE, templateIdsOf } from '../prompts/templates.js';
import { codeToken } from '../semid/vocabulary.js';
import type { LoadedModel, ModelLoader } from './stage.js';

export interface FinetunedLoaderOptions {
  /**
   * Longest prompt in tokens; longer ones lose their oldest tokens, as the trainer truncates
   * prompts to fit finetune.maxLength (pass maxLength - levels - 1). Default: no limit.
   */
  maxPromptTokens?: number;
}

export function finetunedModelLoader(opts: FinetunedLoaderOptions = {}): ModelLoader {
  return async ({ dirs, semanticIds }): Promise<LoadedModel> => {
    const finetune = dirs.finetune;
    const prompts = dirs.prompts;
    if (finetune === undefined || prompts === undefined) throw new BadInputError(`evaluation needs the finetune and prompts outputs (given: ${Object.keys(dirs).join(', ')})`);
    try {
      await access(join(finetune, CONFIG_FILE));
    } catch {
      throw new BadInputError('no full model here: a LoRA run must save the merged model (finetune.lora.saveMerged)', { file: join(finetune, CONFIG_FILE) });
    }
    const tokenizer = await HfTokenizer.fromDir(finetune);
    const { context } = await readPromptContext(prompts);
    if (context.items.tokens.length !== semanticIds.items) {
      throw new BadInputError(`the prompts hold ${context.items.tokens.length} items, the semantic IDs ${semanticIds.items}`, { file: prompts });
    }
    const seqrecTemplates = Array.from(templateIdsOf(context.templates, 'seqrec', SEQREC_SUBTYPE));
    const model = await loadQwen(finetune);
    const limit = opts.maxPromptTokens ?? Infinity;
    return {
      sessions: model.sessions,
      tokens: {
        codeTokenId(level, code) {
          const id = tokenizer.tokenToId(codeToken(level, code));
          if (id === undefined) throw new BadInputError(`the tokenizer has no token ${codeToken(level, code)}`, { file: finetune });
          return id;
        },
        eosId: tokenizer.eosId,
      },
      renderPrompt(history, templateId) {
        const unit: SampleUnit = { task: 'seqrec', subtype: SEQREC_SUBTYPE, userId: null, position: null, history, target: history[history.length - 1] as number, templateIds: Int32Array.of(templateId) };
        const ids = tokenizer.encode(renderSample(unit, templateId, context).prompt);
        return ids.length > limit ? ids.subarray(ids.length - limit) : ids;
      },
      seqrecTemplates,
      describe: `${model.config.model_type} ${model.config.num_hidden_layers} layers x ${model.config.hidden_size}, vocab ${model.config.vocab_size}`,
      dispose: () => model.dispose(),
    };
  };
}
