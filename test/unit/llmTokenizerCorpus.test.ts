import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pruningCorpus } from '../../src/llm/vocabCorpus.js';
import type { PromptContext } from '../../src/prompts/render.js';
import type { SampleUnit } from '../../src/prompts/sampleUnit.js';
import { SEQREC_SUBTYPE, TEMPLATES, templateIdsOf } from '../../src/prompts/templates.js';

const ctx: PromptContext = {
  templates: TEMPLATES,
  items: {
    tokens: ['<C0_1><C1_2>', '<C0_3><C1_4>', '<C0_5><C1_6>'],
    titles: ['Rose Lip Balm', 'Argan Oil Shampoo', 'Matte Eyeliner'],
    descriptions: ['by Acme (Beauty, Lips)', null, 'by Kohl (Beauty, Eyes)'],
  },
  history: { separator: ', ', numbered: true },
};
const seqrecIds = templateIdsOf(TEMPLATES, 'seqrec', SEQREC_SUBTYPE);
const titleIds = templateIdsOf(TEMPLATES, 'item2index', 'title');
const seq = (history: number[], target: number, templateIds = seqrecIds): SampleUnit => ({
  task: 'seqrec', subtype: SEQREC_SUBTYPE, userId: 0, position: history.length, history: Int32Array.from(history), target, templateIds,
});
const item = (target: number): SampleUnit => ({ task: 'item2index', subtype: 'title', userId: null, position: null, history: new Int32Array(0), target, templateIds: titleIds });

test('the pruning corpus has every unit once, rotating templates, and every template with the longest history', () => {
  const units = [seq([0], 1), seq([0, 1], 2), seq([0, 1, 2, 0], 1, Int32Array.of(0)), item(0), item(1), item(2)];
  const texts = pruningCorpus(units, ctx);
  assert.equal(texts.length, units.length + seqrecIds.length + titleIds.length);
  // Every seqrec template, rendered with the longest history (an eval unit with one fixed template).
  const longest = '1. <C0_1><C1_2>, 2. <C0_3><C1_4>, 3. <C0_5><C1_6>, 4. <C0_1><C1_2>';
  for (const id of seqrecIds) {
    const words = TEMPLATES.seqrec[id]!.instruction.split('{history}')[0]!;
    assert.ok(texts.some((t) => t.includes(words + longest)), `seqrec template ${id}`);
  }
  // Rotation: the item units use templates 0, 1, 2 of their subtype, each with its own title and ID.
  assert.ok(texts[3]!.includes(TEMPLATES.item2index[titleIds[0]!]!.instruction.replace('{title}', 'Rose Lip Balm')));
  assert.ok(texts[4]!.includes(TEMPLATES.item2index[titleIds[1]!]!.instruction.replace('{title}', 'Argan Oil Shampoo')));
  assert.ok(texts[5]!.endsWith('### Response:<C0_5><C1_6>'));
  assert.ok(texts[0]!.endsWith('### Response:<C0_3><C1_4>'));
});
