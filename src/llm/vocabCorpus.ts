/**
 * The texts a from-scratch vocabulary is pruned to: what the model will read and write, taken
 * from the prompts stage's sample units. Templates are redrawn every epoch, so rendering one epoch
 * would miss the words of templates that epoch did not draw. Instead:
 *  - unit i of a (task, subtype) is rendered with its eligible template i mod n, so every
 *    template's wording and every item's text and IDs appear;
 *  - the unit with the longest history of each (task, subtype) is rendered with every template of
 *    that subtype, so every template appears even where units have one fixed template (eval), and
 *    meets the longest numbering and separators.
 * Each text is prompt + response (the EOS is an added token, always kept). A combination this
 * misses (a title's last characters next to another template's quote mark) still encodes with the
 * pruned vocabulary, in one or two tokens more: pruning keeps every byte.
 */
import { renderSample } from '../prompts/render.js';
import type { PromptContext } from '../prompts/render.js';
import type { SampleUnit } from '../prompts/sampleUnit.js';
import { templateIdsOf } from '../prompts/templates.js';

export function pruningCorpus(units: readonly SampleUnit[], ctx: PromptContext): string[] {
  const texts: string[] = [];
  const seen = new Map<string, number>();
  const longest = new Map<string, SampleUnit>();
  const render = (unit: SampleUnit, templateId: number) => {
    const r = renderSample(unit, templateId, ctx);
    texts.push(r.prompt + r.response);
  };
  for (const unit of units) {
    if (unit.templateIds.length === 0) throw new RangeError(`a ${unit.task} unit has no eligible template`);
    const group = `${unit.task}/${unit.subtype}`;
    const i = seen.get(group) ?? 0;
    seen.set(group, i + 1);
    render(unit, unit.templateIds[i % unit.templateIds.length]!);
    const best = longest.get(group);
    if (best === undefined || unit.history.length > best.history.length) longest.set(group, unit);
  }
  for (const unit of longest.values()) for (const id of templateIdsOf(ctx.templates, unit.task, unit.subtype)) render(unit, id);
  return texts;
}
