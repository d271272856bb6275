/**
 * The prompts stage: the ingested dataset and the semantic IDs -> the fixed sample units of every
 * split, the item text and templates that render them, a summary and a rendered preview
 * (files.ts lists the files). Templates are not chosen here: the trainer draws one per sample
 * per epoch (templateDraw.ts) and renders it (render.ts), so the files stay the same across epochs.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readSequenceData } from '../data/datasetReader.js';
import { ITEMS_SCHEMA } from '../data/datasetTables.js';
import type { ProgressSink } from '../data/itemText.js';
import { BadInputError } from '../errors.js';
import { SEMANTIC_IDS_FILE, readSemanticIds } from '../semid/writeSemanticIds.js';
import { readParquet, writeParquet } from '../tables/parquet.js';
import {
  ITEM_TEXT_FILE,
  MANIFEST_FILE,
  PREVIEW_FILE,
  PROMPT_SPLITS,
  PROMPTS_FORMAT,
  SPLIT_FILES,
  SUMMARY_FILE,
  TEMPLATES_FILE,
  itemTextTable,
  templatesJson,
  writeSamples,
  type PromptSplit,
  type PromptsManifest,
} from './files.js';
import { fitSample, type Encode } from './fit.js';
import { promptDescription, promptTitle, type PromptItems } from './promptText.js';
import { renderSample, type PromptContext } from './render.js';
import { buildSamples, type SampleSets } from './samples.js';
import type { SampleUnit } from './sampleUnit.js';
import { PromptsSettingsSchema, type PromptsSettings } from './settings.js';
import { PROMPT_TASKS, SUBTYPES_OF, TEMPLATES } from './templates.js';
import { templateDrawer } from './templateDraw.js';

/** Part of the stage key: bump when a change alters what the stage writes (templates included). */
export const PROMPTS_CODE_VERSION = 'prompts/1';

export interface PromptsStageOptions {
  onProgress?: ProgressSink;
  /**
   * With the model's tokenizer: count the samples longer than `maxLength` tokens (train under the
   * epoch-0 template draw, evaluation rows under each of their templates), how many history items
   * fitting them drops, and which cannot fit at all. The files do not change.
   */
  lengthCheck?: { encode: Encode; maxLength: number; extraTokens?: number };
}

export async function runPromptsStage(
  datasetDir: string,
  semidDir: string,
  outDir: string,
  settings: PromptsSettings,
  seed: number,
  opts: PromptsStageOptions = {},
) {
  const checked = PromptsSettingsSchema.safeParse(settings);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new BadInputError(issue.message, { field: ['prompts', ...issue.path].join('.') });
  }
  const progress = (phase: string, done: number) => opts.onProgress?.({ phase, done, total: 4 });
  progress('reading inputs', 0);
  const { sequences, numItems } = await readSequenceData(datasetDir);
  const items = await promptItems(datasetDir, semidDir, numItems, settings);

  progress('building samples', 1);
  const sets = buildSamples({ sequences, items, settings, seed, source: join(datasetDir, 'sequences.parquet') });
  const context: PromptContext = { templates: TEMPLATES, items, history: settings.history };

  progress('checking lengths', 2);
  const lengths = opts.lengthCheck ? checkLengths(sets, context, seed, opts.lengthCheck) : null;

  progress('writing', 3);
  const rows = Object.fromEntries(PROMPT_SPLITS.map((s) => [s, sets[s].length])) as Record<PromptSplit, number>;
  const manifest: PromptsManifest = { format: PROMPTS_FORMAT, version: PROMPTS_CODE_VERSION, seed, history: settings.history, settings, items: numItems, rows };
  const summary = {
    version: PROMPTS_CODE_VERSION,
    rows,
    counts: Object.fromEntries(PROMPT_SPLITS.map((s) => [s, countBySubtype(sets[s])])),
    skipped: sets.skipped,
    templates: Object.fromEntries(PROMPT_TASKS.map((t) => [t, Object.fromEntries(SUBTYPES_OF[t].map((s) => [s, TEMPLATES[t].filter((x) => x.subtype === s).length]))])),
    history: historyStats(sets.train, settings.history.maxItems),
    ...(lengths ? { lengths } : {}),
  };
  await publishFiles(outDir, async (dir) => {
    for (const split of PROMPT_SPLITS) await writeSamples(join(dir, SPLIT_FILES[split]), sets[split]);
    await writeParquet(join(dir, ITEM_TEXT_FILE), itemTextTable(items));
    await writeFile(join(dir, TEMPLATES_FILE), `${JSON.stringify(templatesJson(TEMPLATES), null, 2)}\n`);
    await writeFile(join(dir, SUMMARY_FILE), `${JSON.stringify(summary, null, 2)}\n`);
    await writeFile(join(dir, PREVIEW_FILE), preview(sets, context, seed, settings.previewSamples));
    await writeFile(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  });
  progress('done', 4);
  return {
    trainSamples: rows.train,
    validLossSamples: rows.validLoss,
    evalUsers: rows.valid,
    items: numItems,
    tasks: settings.tasks.join('+'),
    skipped: Object.values(sets.skipped).reduce((a, b) => a + b, 0),
    ...(lengths ? { truncated: lengths.train.truncated, tooLong: lengths.train.tooLong } : {}),
  };
}

/** Item text from items.parquet and IDs from the semantic-ID stage; both must cover the same items. */
async function promptItems(datasetDir: string, semidDir: string, numItems: number, settings: PromptsSettings): Promise<PromptItems> {
  const semids = await readSemanticIds(semidDir);
  if (semids.items !== numItems) {
    const reason =
      semids.items < numItems
        ? `holds ${semids.items} items, but the dataset has ${numItems}: items ${semids.items}..${numItems - 1} have no semantic ID`
        : `holds ${semids.items} items, but the dataset has only ${numItems}: the semantic IDs belong to another dataset`;
    throw new BadInputError(reason, { file: join(semidDir, SEMANTIC_IDS_FILE) });
  }
  const { item_id, title, description, brand, categories } = ITEMS_SCHEMA;
  const itemsFile = join(datasetDir, 'items.parquet');
  const table = await readParquet(itemsFile, { item_id, title, description, brand, categories });
  const ids = table.getChild('item_id')!;
  for (let i = 0; i < table.numRows; i++) {
    if (ids.get(i) !== i) throw new BadInputError(`row ${i} has item_id ${ids.get(i)}; expected ${i}`, { file: itemsFile, field: 'item_id' });
  }
  const column = (name: 'title' | 'description' | 'brand' | 'categories') => Array.from(table.getChild(name)!, (v) => v ?? null);
  const [titles, descriptions, brands, cats] = [column('title'), column('description'), column('brand'), column('categories')];
  const { descriptionSource, descriptionMaxWords } = settings.text;
  return {
    tokens: semids.tokens,
    titles: titles.map(promptTitle),
    descriptions: titles.map((_, i) =>
      promptDescription({ title: titles[i] ?? null, description: descriptions[i] ?? null, brand: brands[i] ?? null, categories: cats[i] ?? null }, descriptionSource, descriptionMaxWords),
    ),
  };
}

function countBySubtype(units: readonly SampleUnit[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const u of units) counts[`${u.task}/${u.subtype}`] = (counts[`${u.task}/${u.subtype}`] ?? 0) + 1;
  return counts;
}

/** Mean history length of the training sequence units, and how many lost items to the cap. */
function historyStats(train: readonly SampleUnit[], cap: number) {
  let units = 0;
  let total = 0;
  let capped = 0;
  for (const u of train) {
    if (u.position === null) continue;
    units++;
    total += u.history.length;
    if (u.position > cap) capped++;
  }
  return { cap, sequenceUnits: units, meanLength: units ? Number((total / units).toFixed(4)) : 0, capped };
}

type Templates = (unit: SampleUnit, row: number) => ArrayLike<number>;

function checkLengths(sets: SampleSets, ctx: PromptContext, seed: number, check: NonNullable<PromptsStageOptions['lengthCheck']>) {
  const draw = templateDrawer(seed);
  const perSplit = (units: readonly SampleUnit[], templates: Templates) => {
    const out = { checked: 0, truncated: 0, droppedItems: 0, tooLong: 0, longest: 0 };
    units.forEach((unit, row) => {
      for (const id of Array.from(templates(unit, row))) {
        const fitted = fitSample(unit, id, ctx, check);
        out.checked++;
        if (!fitted.fits) out.tooLong++;
        else if (fitted.droppedHistory > 0) out.truncated++;
        out.droppedItems += fitted.droppedHistory;
        if (fitted.droppedHistory === 0) out.longest = Math.max(out.longest, fitted.length);
      }
    });
    return out;
  };
  const all: Templates = (unit) => unit.templateIds;
  return {
    maxLength: check.maxLength,
    train: perSplit(sets.train, (unit, row) => [draw(0, row, unit.templateIds)]),
    validLoss: perSplit(sets.validLoss, all),
    valid: perSplit(sets.valid, all),
    test: perSplit(sets.test, all),
  };
}

/** Rows spread evenly over the training set (so every task shows), then a few evaluation rows. */
function preview(sets: SampleSets, ctx: PromptContext, seed: number, count: number): string {
  const draw = templateDrawer(seed);
  const parts: string[] = [];
  const show = (split: PromptSplit, row: number, templateId: number, note: string) => {
    const unit = sets[split][row]!;
    const r = renderSample(unit, templateId, ctx);
    parts.push(`=== ${split} row ${row}: ${unit.task}/${unit.subtype}, template ${templateId} (${note}) ===\n--- prompt ---\n${r.prompt}\n--- response ---\n${r.response}\n`);
  };
  const n = sets.train.length;
  const rows = [...new Set(Array.from({ length: Math.min(count, n) }, (_, i) => Math.floor((i * n) / Math.min(count, n))))];
  for (const row of rows) show('train', row, draw(0, row, sets.train[row]!.templateIds), 'drawn for epoch 0');
  for (const split of ['valid', 'test'] as const) {
    for (let row = 0; row < Math.min(3, sets[split].length, count); row++) show(split, row, sets[split][row]!.templateIds[0]!, 'evaluation template');
  }
  return parts.join('\n');
}

/** Writes into a scratch directory, then moves the files into `outDir`, the manifest last. */
async function publishFiles(outDir: string, write: (dir: string) => Promise<void>): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const scratch = join(outDir, `.partial-${randomBytes(6).toString('hex')}`);
  await mkdir(scratch);
  try {
    await write(scratch);
    const names = [...Object.values(SPLIT_FILES), ITEM_TEXT_FILE, TEMPLATES_FILE, SUMMARY_FILE, PREVIEW_FILE];
    for (const name of names) await rename(join(scratch, name), join(outDir, name));
    await rename(join(scratch, MANIFEST_FILE), join(outDir, MANIFEST_FILE));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
