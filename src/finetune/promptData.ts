/**
 * The prompts stage's output as the trainer's input: sample units rendered per epoch. Unit `u` in
 * epoch `e` gets the template drawTemplate(run seed, e, u) among its eligible ones (spec E.2: one
 * template per sample per epoch), is fitted to maxLength by dropping its oldest history items
 * (prompts/fit.ts: never the response), and prompt and response are tokenized separately, so the
 * prompt's last tokens are exactly those the model sees at inference (prompt alone). The
 * validation-loss units keep their fixed templates.
 */
import type { PromptContext } from '../prompts/render.js';
import { fitSample } from '../prompts/fit.js';
import { readPromptContext, readSampleUnits } from '../prompts/files.js';
import type { SampleUnit } from '../prompts/sampleUnit.js';
import { templateDrawer } from '../prompts/templateDraw.js';
import { renderSample, SFT_HEADER } from '../prompts/render.js';
import { SEQREC_SUBTYPE } from '../prompts/templates.js';
import type { FinetuneData } from './trainer.js';
import type { TokenizedSample } from './batching.js';

export interface PromptTokenizer {
  encode(text: string): Int32Array;
  eosId: number;
  padId: number;
}

export interface PromptUnits {
  context: PromptContext;
  train: SampleUnit[];
  validLoss: SampleUnit[];
  seed: number;
  /** The prompts' history cap (most recent items shown). */
  maxHistory: number;
  /** The fixed seqrec template of evaluation prompts. */
  evalTemplate: number;
}

export async function readPromptUnits(dir: string): Promise<PromptUnits> {
  const { manifest, context } = await readPromptContext(dir);
  const [train, validLoss] = [await readSampleUnits(dir, 'train', context), await readSampleUnits(dir, 'validLoss', context)];
  return { context, train, validLoss, seed: manifest.seed, maxHistory: manifest.history.maxItems, evalTemplate: manifest.settings.eval.fixedTemplate };
}

/** Texts whose tokens a pruned vocabulary must keep: the wrapper, every template, every item text. */
export function promptCorpus(units: PromptUnits): string[] {
  const { templates, items } = units.context;
  const corpus = [SFT_HEADER];
  for (const list of Object.values(templates)) for (const t of list) corpus.push(t.instruction, t.response);
  for (const title of items.titles) if (title) corpus.push(title, `"${title}"`);
  for (const description of items.descriptions) if (description) corpus.push(description);
  return corpus;
}

/** The trainer's data callbacks over the prompts of a run (templates drawn from `seed`). */
export function promptTrainingData(units: PromptUnits, tokenizer: PromptTokenizer, maxLength: number, seed: number): FinetuneData & { droppedHistory: () => number } {
  const draw = templateDrawer(seed);
  let dropped = 0;
  const encode = (text: string) => tokenizer.encode(text);
  const tokenize = (unit: SampleUnit, templateId: number): TokenizedSample => {
    const fitted = fitSample(unit, templateId, units.context, { encode, maxLength, extraTokens: 1 });
    if (fitted.droppedHistory > 0) dropped++;
    return { promptIds: encode(fitted.prompt), responseIds: encode(fitted.response) };
  };
  return {
    units: units.train.length,
    render: (u, epoch) => {
      const unit = units.train[u]!;
      return tokenize(unit, draw(epoch, u, unit.templateIds));
    },
    eosId: tokenizer.eosId,
    padId: tokenizer.padId,
    validation: { count: units.validLoss.length, render: (i) => tokenize(units.validLoss[i]!, units.validLoss[i]!.templateIds[0]!) },
    droppedHistory: () => dropped,
  };
}

/**
 * Token ids of the seqrec prompt for a history (oldest first) and template, ending where the
 * ID's first code token goes: what the beam search decodes from (eval/generative.ts RenderPrompt).
 */
export function seqrecPromptRenderer(context: PromptContext, tokenizer: PromptTokenizer): (history: Int32Array, templateId: number) => Int32Array {
  return (history, templateId) => {
    const unit: SampleUnit = { task: 'seqrec', subtype: SEQREC_SUBTYPE, userId: null, position: null, history, target: history[history.length - 1] ?? 0, templateIds: Int32Array.of(templateId) };
    return tokenizer.encode(renderSample(unit, templateId, context).prompt);
  };
}
