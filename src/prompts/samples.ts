/**
 * The sample units of every split (spec A.6, E.2, E.3), built once by the stage and kept fixed;
 * templates are drawn later, per epoch.
 *
 * For a user with chronological sequence s[0..n-1]:
 * - train: t = s[0..n-3]; one seqrec unit per i = 1..len(t)-1 (history t[..i-1], target t[i]);
 *   each window also gives a fusionseqrec unit with probability `fusionseqrec.rate` (seeded);
 * - valid: target s[n-2], history s[..n-3]; test: target s[n-1], history s[..n-2];
 * - valid-loss: the valid unit once per template, `validLoss.templatesPerUser` distinct seqrec
 *   templates per user (seeded), one template per row;
 * - every history is capped to its `history.maxItems` most recent items.
 * Per item and enabled subtype, one item2index and one index2item unit when the text the subtype
 * needs exists; otherwise the unit is skipped and counted.
 */
import { BadInputError } from '../errors.js';
import { rngFor } from '../tensor/rng.js';
import type { PromptItems } from './promptText.js';
import type { SampleUnit } from './sampleUnit.js';
import type { PromptsSettings } from './settings.js';
import {
  SEQREC_SUBTYPE,
  TEMPLATES,
  templateIdsOf,
  type FusionSubtype,
  type ItemTextSubtype,
  type TemplateCatalog,
} from './templates.js';

export interface SampleInputs {
  /** Full chronological sequence per user id. */
  sequences: readonly Int32Array[];
  items: PromptItems;
  settings: PromptsSettings;
  /** The run's root seed. */
  seed: number;
  templates?: TemplateCatalog;
  /** Named in errors about the sequences (e.g. the path of sequences.parquet). */
  source?: string;
}

export interface SampleSets {
  train: SampleUnit[];
  validLoss: SampleUnit[];
  valid: SampleUnit[];
  test: SampleUnit[];
  /** Units left out because the text they need is missing, by "task/subtype" (fusionseqrec: by task). */
  skipped: Record<string, number>;
}

export function buildSamples(input: SampleInputs): SampleSets {
  const { sequences, items, settings, seed } = input;
  const templates = input.templates ?? TEMPLATES;
  const cap = settings.history.maxItems;
  checkSequences(sequences, items.tokens.length, input.source);

  const seqrecIds = templateIdsOf(templates, 'seqrec', SEQREC_SUBTYPE);
  const evalIds = settings.eval.templates === 'all' ? seqrecIds : Int32Array.of(checkedTemplate(seqrecIds, settings.eval.fixedTemplate));
  const enabled = new Set(settings.tasks);
  const skipped: Record<string, number> = {};
  const skip = (key: string) => (skipped[key] = (skipped[key] ?? 0) + 1);

  const train: SampleUnit[] = [];
  const fusion: SampleUnit[] = [];
  const validLoss: SampleUnit[] = [];
  const valid: SampleUnit[] = [];
  const test: SampleUnit[] = [];
  const fusionRng = rngFor(seed, 'prompts/fusionseqrec');
  const validLossRng = rngFor(seed, 'prompts/valid-loss');
  const fusionIds = Object.fromEntries(settings.fusionseqrec.subtypes.map((s) => [s, templateIdsOf(templates, 'fusionseqrec', s)]));
  const window = (seq: Int32Array, at: number) => seq.slice(Math.max(0, at - cap), at);

  sequences.forEach((seq, user) => {
    const n = seq.length;
    const trainLength = n - 2;
    for (let i = 1; i < trainLength; i++) {
      const unit: SampleUnit = { task: 'seqrec', subtype: SEQREC_SUBTYPE, userId: user, position: i, history: window(seq, i), target: seq[i]!, templateIds: seqrecIds };
      if (enabled.has('seqrec')) train.push(unit);
      // Always draw, so the fusion sample set does not depend on whether seqrec is enabled.
      if (enabled.has('fusionseqrec') && fusionRng.float() < settings.fusionseqrec.rate) {
        const eligible = settings.fusionseqrec.subtypes.filter((s) => fusionEligible(s, unit, items));
        if (eligible.length === 0) skip('fusionseqrec');
        else {
          const subtype = eligible[fusionRng.int(eligible.length)]!;
          fusion.push({ ...unit, task: 'fusionseqrec', subtype, templateIds: fusionIds[subtype]! });
        }
      }
    }
    const validUnit: SampleUnit = { task: 'seqrec', subtype: SEQREC_SUBTYPE, userId: user, position: n - 2, history: window(seq, n - 2), target: seq[n - 2]!, templateIds: evalIds };
    valid.push(validUnit);
    test.push({ ...validUnit, position: n - 1, history: window(seq, n - 1), target: seq[n - 1]! });
    for (const pick of validLossRng.sample(seqrecIds.length, settings.validLoss.templatesPerUser)) {
      validLoss.push({ ...validUnit, templateIds: Int32Array.of(seqrecIds[pick]!) });
    }
  });

  for (const task of ['item2index', 'index2item'] as const) {
    if (!enabled.has(task)) continue;
    const subtypes = settings[task].subtypes;
    const ids = Object.fromEntries(subtypes.map((s) => [s, templateIdsOf(templates, task, s)]));
    for (let item = 0; item < items.tokens.length; item++) {
      for (const subtype of subtypes) {
        if (!hasText(subtype, item, items)) skip(`${task}/${subtype}`);
        else train.push({ task, subtype, userId: null, position: null, history: new Int32Array(0), target: item, templateIds: ids[subtype]! });
      }
    }
  }
  train.push(...fusion);
  return { train, validLoss, valid, test, skipped };
}

function hasText(subtype: ItemTextSubtype, item: number, items: PromptItems): boolean {
  const title = items.titles[item] != null;
  const description = items.descriptions[item] != null;
  return subtype === 'title' ? title : subtype === 'description' ? description : title && description;
}

function fusionEligible(subtype: FusionSubtype, unit: SampleUnit, items: PromptItems): boolean {
  if (subtype === 'ids-to-title') return items.titles[unit.target] != null;
  if (subtype === 'ids-to-description') return items.descriptions[unit.target] != null;
  return unit.history.every((i) => items.titles[i] != null);
}

function checkedTemplate(ids: Int32Array, id: number): number {
  if (!ids.includes(id)) throw new BadInputError(`seqrec has no template ${id} (ids ${ids[0]}..${ids[ids.length - 1]})`, { field: 'prompts.eval.fixedTemplate' });
  return id;
}

/** Leave-one-out needs three items per user, and every item needs a semantic ID. */
function checkSequences(sequences: readonly Int32Array[], items: number, file: string | undefined): void {
  sequences.forEach((seq, user) => {
    if (seq.length < 3) {
      throw new BadInputError(`user ${user} has ${seq.length} items; leave-one-out needs at least 3`, { file, field: 'items' });
    }
    for (const item of seq) {
      if (!Number.isInteger(item) || item < 0 || item >= items) {
        throw new BadInputError(`user ${user} has item ${item}, which has no semantic ID (ids cover items 0..${items - 1})`, { file, field: 'items' });
      }
    }
  });
}
