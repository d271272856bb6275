/**
 * What the trainer asks for each step: row `index` of a split as epoch `epoch` sees it. The
 * template comes from the run seed (templateDraw.ts); with a token budget the history is cut from
 * the left to fit (fit.ts), without one the sample is rendered whole.
 */
import { fitSample, type FitOptions } from './fit.js';
import { renderSample, type PromptContext, type RenderedSample } from './render.js';
import type { SampleUnit } from './sampleUnit.js';
import { templateDrawer } from './templateDraw.js';

export type TemplateDrawer = ReturnType<typeof templateDrawer>;

export interface EpochSample extends RenderedSample {
  droppedHistory: number;
  /** False when the sample cannot fit the budget even without history: skip it and count it. */
  fits: boolean;
  /** Tokens measured against the budget; null without one. */
  length: number | null;
}

export function epochSample(
  unit: SampleUnit,
  index: number,
  epoch: number,
  draw: TemplateDrawer,
  ctx: PromptContext,
  budget?: FitOptions,
): EpochSample {
  const templateId = draw(epoch, index, unit.templateIds);
  if (budget) return fitSample(unit, templateId, ctx, budget);
  return { ...renderSample(unit, templateId, ctx), droppedHistory: 0, length: null, fits: true };
}
