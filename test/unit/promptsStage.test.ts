import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { itemsTable, sequencesTable } from '../../src/data/datasetTables.js';
import type { ItemText } from '../../src/data/itemText.js';
import type { SequenceSet } from '../../src/data/sequences.js';
import { BadInputError } from '../../src/errors.js';
import { MANIFEST_FILE, PREVIEW_FILE, readPromptContext, readSampleUnits, SPLIT_FILES, SUMMARY_FILE, writeSamples } from '../../src/prompts/files.js';
import { fitSample } from '../../src/prompts/fit.js';
import { renderSample } from '../../src/prompts/render.js';
import { PROMPTS_PRESETS, type PromptsSettings } from '../../src/prompts/settings.js';
import { runPromptsStage } from '../../src/prompts/stage.js';
import { templateDrawer } from '../../src/prompts/templateDraw.js';
import { assignSemanticIds } from '../../src/semid/assign.js';
import { writeSemanticIds } from '../../src/semid/writeSemanticIds.js';
import { writeParquet } from '../../src/tables/parquet.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lcrec-prompts-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

// As ingestion stores them: cleaned text ends in '.', a missing title is '', a missing description ''.
const TEXT: Pick<ItemText, 'title' | 'description' | 'brand' | 'categories'>[] = [
  { title: 'Red Lipstick.', description: 'A bright red lipstick.', brand: 'Acme', categories: 'Beauty,Makeup,Lips' },
  { title: 'Nail Polish!.', description: '', brand: 'OPI', categories: 'Beauty,Makeup,Nails,Polish' },
  { title: '', description: 'Soft brush.', brand: '', categories: 'Beauty,Tools' },
  { title: 'Face Cream.', description: 'Moisturising cream.', brand: 'Acme', categories: 'Beauty,Skin Care,Face' },
  { title: 'Shampoo.', description: '', brand: '', categories: '' },
  { title: 'Eye Liner`.', description: 'Black liner.', brand: 'Lash', categories: 'Beauty,Makeup,Eyes' },
];
const SEQUENCES = [Int32Array.of(0, 1, 2, 3, 4), Int32Array.of(3, 5, 0), Int32Array.of(5, 4, 3, 2, 1, 0), Int32Array.of(1, 3, 5, 0, 4)];

async function writeDataset(dir: string, sequences = SEQUENCES): Promise<void> {
  await mkdir(dir, { recursive: true });
  const set: SequenceSet = {
    userSource: Int32Array.from(sequences, (_, u) => u),
    itemSource: Int32Array.from(TEXT, (_, i) => i),
    sequences,
    timestamps: undefined,
    dropped: { duplicates: 0, missingMetadata: 0, kCore: 0, shortSequences: 0 },
    kCoreRounds: 0,
  };
  const text = (i: number): ItemText => ({ asin: null, price: null, ...TEXT[i]! });
  await writeParquet(path.join(dir, 'items.parquet'), itemsTable(set, TEXT.map((_, i) => `i${i}`), text));
  await writeParquet(path.join(dir, 'sequences.parquet'), sequencesTable(set, sequences.map((_, u) => `u${u}`)));
}

/** Collision-free 2-level IDs for the first `items` items. */
async function writeSemids(dir: string, items = TEXT.length): Promise<void> {
  await mkdir(dir, { recursive: true });
  const codes = Int32Array.from({ length: items * 2 }, (_, k) => (k % 2 === 0 ? (k / 2) % 4 : Math.floor(k / 8)));
  const assignment = assignSemanticIds({ codes, codebookSizes: [4, 4], costs: () => { throw new Error('no collisions expected'); } });
  await writeSemanticIds(dir, assignment);
}

const SETTINGS: PromptsSettings = {
  ...structuredClone(PROMPTS_PRESETS.tiny),
  tasks: ['seqrec', 'item2index', 'index2item', 'fusionseqrec'],
  history: { maxItems: 3, separator: ', ', numbered: true },
  fusionseqrec: { subtypes: ['ids-to-title', 'titles-to-id'], rate: 1 },
  previewSamples: 8,
};

async function digests(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) out[name] = createHash('sha256').update(await readFile(path.join(dir, name))).digest('hex');
  return out;
}

test('the stage writes fixed sample units that render back exactly; same inputs, same bytes', async (t) => {
  const root = await tempDir(t);
  const [data, semid, out] = ['data', 'semid', 'out'].map((d) => path.join(root, d)) as [string, string, string];
  await writeDataset(data);
  await writeSemids(semid);
  const summary = await runPromptsStage(data, semid, out, SETTINGS, 42);
  // 4 users: train windows 2 + 0 + 3 + 2 = 7 seqrec; fusion keeps the 7 windows minus those with no text.
  assert.equal(summary.evalUsers, 4);
  assert.equal(summary.validLossSamples, 8);

  const { manifest, context } = await readPromptContext(out);
  assert.deepEqual(context.items.titles, ['Red Lipstick', 'Nail Polish', null, 'Face Cream', 'Shampoo', 'Eye Liner']);
  assert.deepEqual(context.items.descriptions, ['A bright red lipstick', null, 'Soft brush', 'Moisturising cream', null, 'Black liner']);
  assert.equal(context.items.tokens[5], '<C0_1><C1_1>');
  const train = await readSampleUnits(out, 'train', context);
  const test_ = await readSampleUnits(out, 'test', context);
  assert.equal(train.length, manifest.rows.train);
  assert.equal(train.filter((u) => u.task === 'seqrec').length, 7);
  assert.deepEqual(
    test_.map((u) => [u.userId, Array.from(u.history), u.target]),
    [[0, [1, 2, 3], 4], [1, [3, 5], 0], [2, [3, 2, 1], 0], [3, [3, 5, 0], 4]],
  );
  // The rendering from the files is the one a user reads in the preview.
  const r = renderSample(test_[0]!, 0, context);
  assert.equal(r.instruction, 'Here are the items a user interacted with, oldest first: 1. <C0_1><C1_0>, 2. <C0_2><C1_0>, 3. <C0_3><C1_0>. Which item will the user interact with next?');
  assert.equal(r.response, '<C0_0><C1_1>');
  const preview = await readFile(path.join(out, PREVIEW_FILE), 'utf8');
  assert.ok(preview.includes(`${r.prompt}\n--- response ---\n${r.response}\n`));
  const draw = templateDrawer(42);
  const shown = renderSample(train[0]!, draw(0, 0, train[0]!.templateIds), context);
  assert.ok(preview.startsWith(`=== train row 0: seqrec/ids-to-id, template ${shown.templateId} (drawn for epoch 0) ===\n--- prompt ---\n${shown.prompt}\n`));

  const written = JSON.parse(await readFile(path.join(out, SUMMARY_FILE), 'utf8'));
  assert.equal(written.counts.train['seqrec/ids-to-id'], 7);
  assert.equal(written.counts.train['item2index/title'], 5);
  assert.equal(written.counts.train['index2item/both'], 3);
  assert.equal(written.skipped['item2index/description'], 2);
  assert.deepEqual(written.templates.item2index, { title: 6, description: 6, both: 6 });
  assert.ok(written.templates.seqrec['ids-to-id'] >= 10);

  const files = await readdir(out);
  assert.ok(!files.some((f) => f.startsWith('.partial')), 'no scratch left behind');
  const again = path.join(root, 'again');
  await runPromptsStage(data, semid, again, SETTINGS, 42);
  assert.deepEqual(await digests(again), await digests(out));
});

test('with a tokenizer, the summary counts samples whose history must be cut to fit', async (t) => {
  const root = await tempDir(t);
  const [data, semid, out] = ['data', 'semid', 'out'].map((d) => path.join(root, d)) as [string, string, string];
  await writeDataset(data);
  await writeSemids(semid);
  // A stand-in tokenizer: one id per code token or run of other non-space characters.
  const encode = (text: string): number[] => (text.match(/<C\d+_\d+>|[^\s<]+/g) ?? []).map((piece) => piece.length);
  const settings = { ...SETTINGS, tasks: ['seqrec' as const] };
  // Under template 0, a test sample with three history items is 53 of these tokens, with two 49.
  const maxLength = 50;
  const summary = await runPromptsStage(data, semid, out, settings, 5, { lengthCheck: { encode, maxLength } });
  const { lengths } = JSON.parse(await readFile(path.join(out, SUMMARY_FILE), 'utf8'));
  const { context } = await readPromptContext(out);
  const expect = { checked: 0, truncated: 0, droppedItems: 0, tooLong: 0 };
  for (const unit of await readSampleUnits(out, 'test', context)) {
    for (const id of unit.templateIds) {
      const f = fitSample(unit, id, context, { encode, maxLength });
      expect.checked++;
      expect.droppedItems += f.droppedHistory;
      if (!f.fits) expect.tooLong++;
      else if (f.droppedHistory > 0) expect.truncated++;
      assert.equal(f.response, renderSample(unit, id, context).response);
    }
  }
  assert.deepEqual({ checked: lengths.test.checked, truncated: lengths.test.truncated, droppedItems: lengths.test.droppedItems, tooLong: lengths.test.tooLong }, expect);
  assert.ok(expect.truncated > 0, 'the budget is tight enough to cut some test histories');
  assert.equal(summary.truncated, lengths.train.truncated);
});

test('bad input: semantic IDs missing an item, or bad settings, stop the stage and publish nothing', async (t) => {
  const root = await tempDir(t);
  const [data, semid, out] = ['data', 'semid', 'out'].map((d) => path.join(root, d)) as [string, string, string];
  await writeDataset(data);
  await writeSemids(semid, TEXT.length - 1);
  await assert.rejects(
    runPromptsStage(data, semid, out, SETTINGS, 1),
    (err: unknown) => err instanceof BadInputError && err.message.includes(path.join(semid, 'semantic_ids.parquet')) && /items 5\.\.5 have no semantic ID/.test(err.message),
  );
  await assert.rejects(readFile(path.join(out, MANIFEST_FILE)), /ENOENT/);
  await assert.rejects(
    runPromptsStage(data, semid, out, { ...SETTINGS, history: { ...SETTINGS.history, maxItems: 0 } }, 1),
    (err: unknown) => err instanceof BadInputError && /field 'prompts\.history\.maxItems'/.test(err.message),
  );
  await assert.rejects(runPromptsStage(data, path.join(root, 'nowhere'), out, SETTINGS, 1), (err: unknown) => err instanceof BadInputError && /nowhere/.test(err.message));
  for (const name of Object.values(SPLIT_FILES)) await assert.rejects(readFile(path.join(out, name)), /ENOENT/);
});

test('reading back: a row whose templates belong to another subtype is bad input naming the file, row and field', async (t) => {
  const root = await tempDir(t);
  const [data, semid, out] = ['data', 'semid', 'out'].map((d) => path.join(root, d)) as [string, string, string];
  await writeDataset(data);
  await writeSemids(semid);
  await runPromptsStage(data, semid, out, SETTINGS, 3);
  const { context } = await readPromptContext(out);
  const units = await readSampleUnits(out, 'train', context);
  const index = units.findIndex((u) => u.task === 'item2index' && u.subtype === 'title');
  units[index] = { ...units[index]!, templateIds: Int32Array.of(0, 7) }; // 7 is a description template
  const file = path.join(out, SPLIT_FILES.train);
  await writeSamples(file, units);
  await assert.rejects(
    readSampleUnits(out, 'train', context),
    (err: unknown) => err instanceof BadInputError && err.message.startsWith(`${file}, field 'template_ids': row ${index}: [0,7] are not all item2index/title templates`),
  );
});
