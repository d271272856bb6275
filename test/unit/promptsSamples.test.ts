import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BadInputError } from '../../src/errors.js';
import type { PromptItems } from '../../src/prompts/promptText.js';
import { buildSamples } from '../../src/prompts/samples.js';
import type { SampleUnit } from '../../src/prompts/sampleUnit.js';
import { PROMPTS_PRESETS, PromptsSettingsSchema, type PromptsSettings } from '../../src/prompts/settings.js';

// Six items: item 2 has no title, items 1 and 4 no description.
const items: PromptItems = {
  tokens: ['<C0_0><C1_0>', '<C0_1><C1_0>', '<C0_2><C1_0>', '<C0_3><C1_0>', '<C0_0><C1_1>', '<C0_1><C1_1>'],
  titles: ['Red Lipstick', 'Nail Polish', null, 'Face Cream', 'Shampoo', 'Eye Liner'],
  descriptions: ['A bright red lipstick', null, 'Soft brush', 'Moisturising cream', null, 'Black liner'],
};
const sequences = [Int32Array.of(0, 1, 2, 3, 4), Int32Array.of(3, 5, 0), Int32Array.of(5, 4, 3, 2, 1, 0)];

function settings(patch: Partial<PromptsSettings> = {}): PromptsSettings {
  return PromptsSettingsSchema.parse({ ...structuredClone(PROMPTS_PRESETS.tiny), history: { maxItems: 3, separator: ', ', numbered: false }, ...patch });
}

/** Units as plain tuples: [task, subtype, user, position, history, target, templateIds]. */
const plain = (units: SampleUnit[]) => units.map((u) => [u.task, u.subtype, u.userId, u.position, Array.from(u.history), u.target, Array.from(u.templateIds)]);
const SEQREC = Array.from({ length: 12 }, (_, i) => i);

test('seqrec windows, valid and test per spec A.6, histories capped to the most recent items', () => {
  const sets = buildSamples({ sequences, items, settings: settings({ tasks: ['seqrec'] }), seed: 7 });
  assert.deepEqual(plain(sets.train), [
    ['seqrec', 'ids-to-id', 0, 1, [0], 1, SEQREC],
    ['seqrec', 'ids-to-id', 0, 2, [0, 1], 2, SEQREC],
    // user 1 has three items: no training window (n - 3 = 0)
    ['seqrec', 'ids-to-id', 2, 1, [5], 4, SEQREC],
    ['seqrec', 'ids-to-id', 2, 2, [5, 4], 3, SEQREC],
    ['seqrec', 'ids-to-id', 2, 3, [5, 4, 3], 2, SEQREC],
  ]);
  assert.deepEqual(plain(sets.valid), [
    ['seqrec', 'ids-to-id', 0, 3, [0, 1, 2], 3, [0]],
    ['seqrec', 'ids-to-id', 1, 1, [3], 5, [0]],
    ['seqrec', 'ids-to-id', 2, 4, [4, 3, 2], 1, [0]],
  ]);
  assert.deepEqual(plain(sets.test), [
    ['seqrec', 'ids-to-id', 0, 4, [1, 2, 3], 4, [0]],
    ['seqrec', 'ids-to-id', 1, 2, [3, 5], 0, [0]],
    ['seqrec', 'ids-to-id', 2, 5, [3, 2, 1], 0, [0]],
  ]);
  assert.deepEqual(sets.skipped, {});
});

test('the valid-loss set: the valid unit under 2 distinct seeded templates per user', () => {
  const a = buildSamples({ sequences, items, settings: settings(), seed: 7 });
  assert.equal(a.validLoss.length, 6);
  for (let u = 0; u < 3; u++) {
    const [x, y] = [a.validLoss[2 * u]!, a.validLoss[2 * u + 1]!];
    assert.deepEqual([x.userId, y.userId, x.target, Array.from(x.history)], [u, u, a.valid[u]!.target, Array.from(a.valid[u]!.history)]);
    assert.equal(x.templateIds.length, 1);
    assert.notEqual(x.templateIds[0], y.templateIds[0]);
  }
  const again = buildSamples({ sequences, items, settings: settings(), seed: 7 });
  assert.deepEqual(plain(again.validLoss), plain(a.validLoss));
  const others = [8, 9, 10].map((seed) => plain(buildSamples({ sequences, items, settings: settings(), seed }).validLoss));
  assert.ok(others.some((o) => JSON.stringify(o) !== JSON.stringify(plain(a.validLoss))), 'the seed chooses the templates');
});

test('evaluation rows: one fixed template by default, every seqrec template in "all" mode', () => {
  const fixed = buildSamples({ sequences, items, settings: settings({ eval: { templates: 'fixed', fixedTemplate: 5 } }), seed: 1 });
  assert.deepEqual(Array.from(fixed.test[0]!.templateIds), [5]);
  const all = buildSamples({ sequences, items, settings: settings({ eval: { templates: 'all', fixedTemplate: 0 } }), seed: 1 });
  assert.deepEqual(Array.from(all.valid[2]!.templateIds), SEQREC);
});

test('item tasks: one unit per item and subtype whose text exists; the others are skipped and counted', () => {
  const sets = buildSamples({ sequences, items, settings: settings({ tasks: ['item2index', 'index2item'] }), seed: 7 });
  const byKey = (task: string, subtype: string) => sets.train.filter((u) => u.task === task && u.subtype === subtype).map((u) => u.target);
  for (const task of ['item2index', 'index2item']) {
    assert.deepEqual(byKey(task, 'title'), [0, 1, 3, 4, 5]);
    assert.deepEqual(byKey(task, 'description'), [0, 2, 3, 5]);
    assert.deepEqual(byKey(task, 'both'), [0, 3, 5]);
  }
  const first = sets.train[0]!;
  assert.deepEqual(plain([first]), [['item2index', 'title', null, null, [], 0, [0, 1, 2, 3, 4, 5]]]);
  assert.deepEqual(Array.from(sets.train.find((u) => u.task === 'index2item' && u.subtype === 'both')!.templateIds), [12, 13, 14, 15, 16]);
  assert.deepEqual(sets.skipped, {
    'item2index/title': 1,
    'item2index/description': 2,
    'item2index/both': 3,
    'index2item/title': 1,
    'index2item/description': 2,
    'index2item/both': 3,
  });
});

test('fusionseqrec: seeded subsampling of the training windows, only where the text exists', () => {
  const everyWindow = settings({ tasks: ['fusionseqrec'], fusionseqrec: { subtypes: ['titles-to-id'], rate: 1 } });
  assert.deepEqual(plain(buildSamples({ sequences, items, settings: everyWindow, seed: 3 }).train), [
    ['fusionseqrec', 'titles-to-id', 0, 1, [0], 1, [8, 9, 10, 11]],
    ['fusionseqrec', 'titles-to-id', 0, 2, [0, 1], 2, [8, 9, 10, 11]],
    ['fusionseqrec', 'titles-to-id', 2, 1, [5], 4, [8, 9, 10, 11]],
    ['fusionseqrec', 'titles-to-id', 2, 2, [5, 4], 3, [8, 9, 10, 11]],
    ['fusionseqrec', 'titles-to-id', 2, 3, [5, 4, 3], 2, [8, 9, 10, 11]],
  ]);
  const nextTitle = buildSamples({ sequences, items, settings: settings({ tasks: ['fusionseqrec'], fusionseqrec: { subtypes: ['ids-to-title'], rate: 1 } }), seed: 3 });
  assert.deepEqual(nextTitle.train.map((u) => u.target), [1, 4, 3], 'item 2 has no title: its two windows are skipped');
  assert.deepEqual(nextTitle.skipped, { fusionseqrec: 2 });

  // A rate below 1 keeps about that share of many windows, the same ones for the same seed.
  const long = Array.from({ length: 200 }, (_, u) => Int32Array.from({ length: 12 }, (_, i) => (u + i) % 6));
  const half = settings({ tasks: ['seqrec', 'fusionseqrec'], fusionseqrec: { subtypes: ['titles-to-id', 'ids-to-description'], rate: 0.5 } });
  const count = (seed: number) => buildSamples({ sequences: long, items, settings: half, seed }).train.filter((u) => u.task === 'fusionseqrec');
  const windows = 200 * 9;
  const kept = count(11);
  assert.ok(Math.abs(kept.length + buildSamples({ sequences: long, items, settings: half, seed: 11 }).skipped.fusionseqrec! - windows / 2) < 100, `${kept.length} of ${windows}`);
  assert.deepEqual(plain(count(11)), plain(kept));
  assert.notDeepEqual(plain(count(12)), plain(kept));
  assert.ok(new Set(kept.map((u) => u.subtype)).size === 2, 'both enabled subtypes occur');
  for (const u of kept) {
    if (u.subtype === 'titles-to-id') assert.ok(!Array.from(u.history).includes(2), 'no untitled item in a title history');
    else assert.ok(items.descriptions[u.target] !== null);
  }
});

test('bad input: a sequence item without a semantic ID, a sequence too short for leave-one-out', () => {
  const short = { tokens: items.tokens.slice(0, 5), titles: items.titles.slice(0, 5), descriptions: items.descriptions.slice(0, 5) };
  assert.throws(
    () => buildSamples({ sequences, items: short, settings: settings(), seed: 1, source: '/data/sequences.parquet' }),
    (err: unknown) => err instanceof BadInputError && /\/data\/sequences\.parquet, field 'items': user 1 has item 5, which has no semantic ID/.test(err.message),
  );
  assert.throws(
    () => buildSamples({ sequences: [Int32Array.of(0, 1)], items, settings: settings(), seed: 1 }),
    (err: unknown) => err instanceof BadInputError && /user 0 has 2 items; leave-one-out needs at least 3/.test(err.message),
  );
});

test('settings: presets validate; paper is genrec three tasks with numbered histories; bad keys are named', () => {
  for (const preset of Object.values(PROMPTS_PRESETS)) PromptsSettingsSchema.parse(preset);
  assert.deepEqual(PROMPTS_PRESETS.paper.tasks, ['seqrec', 'item2index', 'index2item']);
  assert.equal(PROMPTS_PRESETS.paper.history.numbered, true);
  assert.equal(PROMPTS_PRESETS.paper.history.maxItems, 20);
  const bad = PromptsSettingsSchema.safeParse({ ...PROMPTS_PRESETS.tiny, history: { ...PROMPTS_PRESETS.tiny.history, maxItem: 3 } });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error!.issues[0]!.path, ['history']);
  assert.equal(PromptsSettingsSchema.safeParse({ ...PROMPTS_PRESETS.tiny, tasks: ['seqrec', 'seqrec'] }).success, false);
  assert.equal(PromptsSettingsSchema.safeParse({ ...PROMPTS_PRESETS.tiny, eval: { templates: 'fixed', fixedTemplate: 12 } }).success, false);
});
