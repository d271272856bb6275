import { test } from 'node:test';
import assert from 'node:assert/strict';
import { epochSample } from '../../src/prompts/epochSample.js';
import { fitSample } from '../../src/prompts/fit.js';
import { brandCategories, promptDescription, promptTitle, type PromptItems } from '../../src/prompts/promptText.js';
import { renderHistory, renderSample, sftPrompt, type PromptContext } from '../../src/prompts/render.js';
import type { SampleUnit } from '../../src/prompts/sampleUnit.js';
import { drawTemplate, templateDrawer } from '../../src/prompts/templateDraw.js';
import { SEQREC_SUBTYPE, TEMPLATES, templateIdsOf } from '../../src/prompts/templates.js';

const HEADER = 'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n';

const items: PromptItems = {
  tokens: ['<C0_0><C1_0>', '<C0_1><C1_0>', '<C0_2><C1_0>', '<C0_3><C1_0><C2_1>'],
  titles: ['Red Lipstick', 'Nail Polish', null, 'Face Cream'],
  descriptions: ['A bright red lipstick', null, 'Soft brush', 'Moisturising cream'],
};
const ctx = (numbered = false, separator = ', '): PromptContext => ({ templates: TEMPLATES, items, history: { numbered, separator } });

const seqrec = (history: number[], target: number): SampleUnit => ({
  task: 'seqrec',
  subtype: SEQREC_SUBTYPE,
  userId: 0,
  position: history.length,
  history: Int32Array.from(history),
  target,
  templateIds: templateIdsOf(TEMPLATES, 'seqrec', SEQREC_SUBTYPE),
});

test('the SFT wrapper is spec E.1 exactly: the response follows "Response:" directly', () => {
  assert.equal(sftPrompt('Do X.'), `${HEADER}Do X.\n\n### Response:`);
  const r = renderSample(seqrec([0, 1, 2], 3), 0, ctx());
  assert.equal(
    r.prompt + r.response,
    `${HEADER}Here are the items a user interacted with, oldest first: <C0_0><C1_0>, <C0_1><C1_0>, <C0_2><C1_0>. Which item will the user interact with next?\n\n### Response:<C0_3><C1_0><C2_1>`,
  );
  assert.equal(r.response, '<C0_3><C1_0><C2_1>', 'IDs of any length are the concatenated tokens, no spaces');
});

test('history options: numbering from 1, custom separator', () => {
  assert.equal(renderHistory(['a', 'b', 'c'], { numbered: true, separator: ', ' }), '1. a, 2. b, 3. c');
  assert.equal(renderHistory(['a', 'b'], { numbered: false, separator: ' | ' }), 'a | b');
  const r = renderSample(seqrec([0, 1], 2), 3, ctx(true));
  assert.equal(r.instruction, 'The user has engaged with the following items over time: 1. <C0_0><C1_0>, 2. <C0_1><C1_0>. What is the next item for this user?');
  // Dropping history restarts the numbering.
  assert.equal(renderSample(seqrec([0, 1], 2), 3, ctx(true), 1).instruction, 'The user has engaged with the following items over time: 1. <C0_1><C1_0>. What is the next item for this user?');
});

test('item tasks render title, description and both; fusionseqrec quotes title histories', () => {
  const unit = (task: SampleUnit['task'], subtype: SampleUnit['subtype'], target: number, history: number[] = []): SampleUnit => ({
    task, subtype, userId: null, position: null, history: Int32Array.from(history), target, templateIds: templateIdsOf(TEMPLATES, task, subtype),
  });
  assert.deepEqual(
    [renderSample(unit('item2index', 'title', 0), 0, ctx()).instruction, renderSample(unit('item2index', 'title', 0), 0, ctx()).response],
    ['Which item carries the title "Red Lipstick"?', '<C0_0><C1_0>'],
  );
  const both = renderSample(unit('index2item', 'both', 3), 12, ctx());
  assert.equal(both.instruction, 'Give the title and the description of item <C0_3><C1_0><C2_1>.');
  assert.equal(both.response, 'Face Cream\n\nMoisturising cream');
  const fusion = renderSample({ ...unit('fusionseqrec', 'titles-to-id', 3, [0, 1]), userId: 1, position: 2 }, 8, ctx());
  assert.equal(fusion.instruction, 'The user bought products titled "Red Lipstick", "Nail Polish", in this order. Which item will they buy next?');
  assert.equal(fusion.response, '<C0_3><C1_0><C2_1>');
  assert.equal(renderSample({ ...unit('fusionseqrec', 'ids-to-title', 1, [0]), userId: 1, position: 1 }, 0, ctx()).response, 'Nail Polish');
  // A template of another subtype, or text that is missing, is an error rather than a wrong sample.
  assert.throws(() => renderSample(unit('item2index', 'title', 0), 6, ctx()), /subtype 'description'/);
  assert.throws(() => renderSample(unit('item2index', 'title', 2), 0, ctx()), /item 2 has no title/);
});

test('every task has its templates, seqrec at least 10, ids are list positions', () => {
  assert.ok(TEMPLATES.seqrec.length >= 10);
  for (const [task, list] of Object.entries(TEMPLATES)) {
    list.forEach((t, i) => assert.equal(t.id, i, `${task} ${i}`));
    assert.equal(new Set(list.map((t) => t.instruction)).size, list.length, `${task}: no duplicate wording`);
  }
  assert.deepEqual(Array.from(templateIdsOf(TEMPLATES, 'item2index', 'description')), [6, 7, 8, 9, 10, 11]);
  assert.deepEqual(Array.from(templateIdsOf(TEMPLATES, 'fusionseqrec', 'titles-to-id')), [8, 9, 10, 11]);
});

test('prompt text: trailing .!?,;: and backticks go, missing text is null', () => {
  assert.equal(promptTitle('OPI Nail Lacquer, 0.5-Fluid Ounce.'), 'OPI Nail Lacquer, 0.5-Fluid Ounce');
  assert.equal(promptTitle('Wow!?`;. '), 'Wow');
  assert.equal(promptTitle('...And More.'), '...And More', 'only the trailing side');
  assert.equal(promptTitle('.'), null);
  assert.equal(promptTitle(''), null);
  assert.equal(brandCategories('OPI', 'Beauty,Makeup,Nails,Nail Polish'), 'by OPI (Beauty, Makeup, Nails)');
  assert.equal(brandCategories('', 'Beauty'), 'Beauty');
  assert.equal(brandCategories(null, ''), null);
  const raw = { title: 't', description: 'one two three four five.', brand: null, categories: null };
  assert.equal(promptDescription(raw, 'description', 3), 'one two three');
  assert.equal(promptDescription(raw, 'description', null), 'one two three four five');
  assert.equal(promptDescription(raw, 'brand-categories', null), null);
});

test('template draws are a pure function of (seed, epoch, index), uniform over the eligible ids', () => {
  const eligible = templateIdsOf(TEMPLATES, 'seqrec', SEQREC_SUBTYPE);
  const draw = templateDrawer(42);
  assert.equal(draw(3, 17, eligible), drawTemplate(42, 3, 17, eligible));
  assert.equal(draw(3, 17, eligible), templateDrawer(42)(3, 17, eligible));
  const epochs = new Set(Array.from({ length: 20 }, (_, e) => draw(e, 5, eligible)));
  assert.ok(epochs.size > 3, 'the template of one sample changes across epochs');
  const seeds = Array.from({ length: 200 }, (_, i) => drawTemplate(1, 0, i, eligible) === drawTemplate(2, 0, i, eligible)).filter(Boolean).length;
  assert.ok(seeds < 60, `seeds 1 and 2 agree on ${seeds}/200 draws`);
  const k = eligible.length;
  const n = 24_000;
  const counts = new Array<number>(k).fill(0);
  for (let e = 0; e < 4; e++) for (let i = 0; i < n / 4; i++) counts[draw(e, i, eligible)]!++;
  const expected = n / k;
  const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  assert.ok(chi2 < 35, `chi-square ${chi2.toFixed(1)} with ${k - 1} degrees of freedom (p < 0.001 at 31.3 for 11)`);
  // Only eligible ids come out; a single eligible id is returned as is.
  const sub = Int32Array.of(6, 9);
  for (let i = 0; i < 100; i++) assert.ok([6, 9].includes(draw(0, i, sub)));
  assert.equal(draw(7, 7, Int32Array.of(4)), 4);
  assert.throws(() => draw(0, 0, new Int32Array(0)), /no eligible template/);
});

test('fitting drops the oldest history items, fewest first, never the response', () => {
  // A stand-in tokenizer: one id per code token or run of other non-space characters.
  const encode = (text: string): number[] => (text.match(/<C\d+_\d+>|[^\s<]+/g) ?? []).map((piece) => piece.length);
  const unit = seqrec([0, 1, 2], 3);
  const full = renderSample(unit, 0, ctx());
  const fullLength = encode(full.prompt + full.response).length + 1;
  const perItem = 3; // per history item: two code tokens and the separator's comma
  assert.deepEqual(fitSample(unit, 0, ctx(), { encode, maxLength: fullLength }), { ...full, droppedHistory: 0, length: fullLength, fits: true });

  const fitted = fitSample(unit, 0, ctx(), { encode, maxLength: fullLength - perItem - 1 });
  assert.equal(fitted.droppedHistory, 2, 'one dropped is still too long, two fit');
  assert.equal(fitted.response, full.response);
  assert.equal(fitted.prompt, renderSample(unit, 0, ctx(), 2).prompt);
  assert.match(fitted.prompt, /oldest first: <C0_2><C1_0>\. Which/);
  assert.ok(fitted.length <= fullLength - perItem - 1 && fitted.fits);

  // Nothing left to drop: reported, not cut into the response.
  const tooLong = fitSample(unit, 0, ctx(), { encode, maxLength: 10 });
  assert.equal(tooLong.fits, false);
  assert.equal(tooLong.droppedHistory, 3);
  assert.equal(tooLong.response, full.response);
  const item: SampleUnit = { task: 'index2item', subtype: 'title', userId: null, position: null, history: new Int32Array(0), target: 0, templateIds: Int32Array.of(0) };
  assert.equal(fitSample(item, 0, ctx(), { encode, maxLength: 5 }).fits, false);
  assert.equal(fitSample(item, 0, ctx(), { encode, maxLength: 500, extraTokens: 0 }).fits, true);
});

test('epochSample: the drawn template of row i in epoch e, fitted when a budget is given', () => {
  const unit = seqrec([0, 1, 2], 3);
  const draw = templateDrawer(9);
  const plainSample = epochSample(unit, 4, 2, draw, ctx());
  assert.equal(plainSample.templateId, draw(2, 4, unit.templateIds));
  assert.deepEqual(plainSample, { ...renderSample(unit, plainSample.templateId, ctx()), droppedHistory: 0, length: null, fits: true });
  const encode = (text: string) => Array.from(text, (c) => c.charCodeAt(0));
  const budget = { encode, maxLength: plainSample.prompt.length + plainSample.response.length - 5 };
  const fitted = epochSample(unit, 4, 2, draw, ctx(), budget);
  assert.equal(fitted.templateId, plainSample.templateId);
  assert.equal(fitted.droppedHistory, 1);
  assert.equal(fitted.response, plainSample.response);
});
