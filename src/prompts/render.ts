/**
 * Rendering a sample unit with one template into (prompt, response): pure, so the trainer can
 * render a different template each epoch from the fixed rows the stage wrote.
 *
 * The SFT wrapper is spec E.1 exactly: the prompt ends in "### Response:" and the response follows
 * it directly, with no space or newline. Training text = prompt + response + EOS (the EOS is the
 * tokenizer's, appended by the trainer); inference input = the prompt alone.
 */
import type { PromptItems } from './promptText.js';
import type { SampleUnit } from './sampleUnit.js';
import type { HistoryFormat } from './settings.js';
import { templateOf, type TemplateCatalog } from './templates.js';

export const SFT_HEADER =
  'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n';
/** The marker after which the response starts; decoding looks for it (spec G). */
export const RESPONSE_MARKER = '### Response:';

export function sftPrompt(instruction: string): string {
  return `${SFT_HEADER}${instruction}\n\n${RESPONSE_MARKER}`;
}

/** What rendering needs besides the unit: the templates, the item text and the history format. */
export interface PromptContext {
  templates: TemplateCatalog;
  items: PromptItems;
  history: Pick<HistoryFormat, 'separator' | 'numbered'>;
}

export interface RenderedSample {
  templateId: number;
  instruction: string;
  /** The wrapped instruction, ending in RESPONSE_MARKER. */
  prompt: string;
  response: string;
}

/** History entries joined by the separator, numbered from 1 when asked ("1. a, 2. b"). */
export function renderHistory(entries: readonly string[], format: PromptContext['history']): string {
  return entries.map((entry, i) => (format.numbered ? `${i + 1}. ${entry}` : entry)).join(format.separator);
}

const PLACEHOLDER = /\{(history|item|title|description)\}/g;

/**
 * The (prompt, response) of `unit` under template `templateId`, with the `dropHistory` oldest
 * history items left out (fitSample uses it to meet a token budget; numbering restarts at 1).
 */
export function renderSample(unit: SampleUnit, templateId: number, ctx: PromptContext, dropHistory = 0): RenderedSample {
  const template = templateOf(ctx.templates, unit.task, templateId);
  if (template.subtype !== unit.subtype) {
    throw new RangeError(`${unit.task} template ${templateId} is for subtype '${template.subtype}', the sample is '${unit.subtype}'`);
  }
  if (!Number.isInteger(dropHistory) || dropHistory < 0 || dropHistory > unit.history.length) {
    throw new RangeError(`cannot drop ${dropHistory} of ${unit.history.length} history items`);
  }
  const { items } = ctx;
  const need = <T>(value: T | null | undefined, what: string, item: number): T => {
    if (value === null || value === undefined) throw new RangeError(`${unit.task}/${unit.subtype}: item ${item} has no ${what}`);
    return value;
  };
  const values = {
    history: () => {
      const kept = Array.from(unit.history.subarray(dropHistory));
      const entries = unit.subtype === 'titles-to-id' ? kept.map((i) => `"${need(items.titles[i], 'title', i)}"`) : kept.map((i) => need(items.tokens[i], 'semantic ID', i));
      return renderHistory(entries, ctx.history);
    },
    item: () => need(items.tokens[unit.target], 'semantic ID', unit.target),
    title: () => need(items.titles[unit.target], 'title', unit.target),
    description: () => need(items.descriptions[unit.target], 'description', unit.target),
  };
  const fill = (text: string) => text.replace(PLACEHOLDER, (_, name: keyof typeof values) => values[name]());
  const instruction = fill(template.instruction);
  return { templateId, instruction, prompt: sftPrompt(instruction), response: fill(template.response) };
}
