/**
 * The prompts stage's files, and reading them back for the trainer and the evaluation:
 *   train.parquet, valid_loss.parquet, valid.parquet, test.parquet   sample units (SAMPLE_SCHEMA)
 *   item_text.parquet   item_id, tokens, title, description: the item text prompts show (null = missing)
 *   templates.json      every template, so the files render the same whatever the code's templates
 *   prompts.json        what rendering needs besides those: the history format, the seed (written last)
 *   summary.json, preview.txt   for people
 * Rows are in a fixed order and nothing holds a time, so identical inputs give identical bytes.
 */
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { z } from 'zod';
import { BadInputError } from '../errors.js';
import { listOfInt32Vector, readParquet, writeParquet } from '../tables/parquet.js';
import type { PromptItems } from './promptText.js';
import { RESPONSE_MARKER, SFT_HEADER, type PromptContext } from './render.js';
import type { SampleUnit } from './sampleUnit.js';
import { HistoryFormatSchema, PromptsSettingsSchema } from './settings.js';
import { PROMPT_TASKS, SUBTYPES_OF, type PromptTask, type PromptTemplate, type TemplateCatalog } from './templates.js';
import { parseWithSchema, readJsonFile } from '../util/jsonFile.js';

export const PROMPT_SPLITS = ['train', 'validLoss', 'valid', 'test'] as const;
export type PromptSplit = (typeof PROMPT_SPLITS)[number];

export const SPLIT_FILES: Record<PromptSplit, string> = {
  train: 'train.parquet',
  validLoss: 'valid_loss.parquet',
  valid: 'valid.parquet',
  test: 'test.parquet',
};
export const ITEM_TEXT_FILE = 'item_text.parquet';
export const TEMPLATES_FILE = 'templates.json';
export const MANIFEST_FILE = 'prompts.json';
export const SUMMARY_FILE = 'summary.json';
export const PREVIEW_FILE = 'preview.txt';
export const PROMPTS_FORMAT = 'lcrec.prompts/1';
const TEMPLATES_FORMAT = 'lcrec.prompt_templates/1';

const int32List = () => new arrow.List(new arrow.Field('item', new arrow.Int32(), true));

export const SAMPLE_SCHEMA = {
  task: new arrow.Utf8(),
  subtype: new arrow.Utf8(),
  /** Null for the item tasks. */
  user_id: new arrow.Int32(),
  /** Index of the target in the user's sequence; null for the item tasks. */
  position: new arrow.Int32(),
  history: int32List(),
  target: new arrow.Int32(),
  template_ids: int32List(),
};

export const ITEM_TEXT_SCHEMA = {
  item_id: new arrow.Int32(),
  tokens: new arrow.Utf8(),
  title: new arrow.Utf8(),
  description: new arrow.Utf8(),
};

export function sampleTable(units: readonly SampleUnit[]): arrow.Table {
  return new arrow.Table({
    task: arrow.vectorFromArray(units.map((u) => u.task), new arrow.Utf8()),
    subtype: arrow.vectorFromArray(units.map((u) => u.subtype), new arrow.Utf8()),
    user_id: arrow.vectorFromArray(units.map((u) => u.userId), new arrow.Int32()),
    position: arrow.vectorFromArray(units.map((u) => u.position), new arrow.Int32()),
    history: listOfInt32Vector(units.map((u) => u.history)),
    target: arrow.makeVector(Int32Array.from(units, (u) => u.target)),
    template_ids: listOfInt32Vector(units.map((u) => u.templateIds)),
  });
}

export function itemTextTable(items: PromptItems): arrow.Table {
  return new arrow.Table({
    item_id: arrow.makeVector(Int32Array.from(items.tokens, (_, i) => i)),
    tokens: arrow.vectorFromArray([...items.tokens], new arrow.Utf8()),
    title: arrow.vectorFromArray([...items.titles], new arrow.Utf8()),
    description: arrow.vectorFromArray([...items.descriptions], new arrow.Utf8()),
  });
}

export async function writeSamples(path: string, units: readonly SampleUnit[]): Promise<void> {
  await writeParquet(path, sampleTable(units));
}

export function templatesJson(catalog: TemplateCatalog) {
  return {
    format: TEMPLATES_FORMAT,
    sftHeader: SFT_HEADER,
    responseMarker: RESPONSE_MARKER,
    tasks: Object.fromEntries(PROMPT_TASKS.map((task) => [task, catalog[task].map(({ id, subtype, instruction, response }) => ({ id, subtype, instruction, response }))])),
  };
}

const TemplateListSchema = z.array(z.strictObject({ id: z.int().min(0), subtype: z.string(), instruction: z.string(), response: z.string() }));
const TemplatesFileSchema = z.strictObject({
  format: z.literal(TEMPLATES_FORMAT),
  sftHeader: z.literal(SFT_HEADER),
  responseMarker: z.literal(RESPONSE_MARKER),
  tasks: z.strictObject(Object.fromEntries(PROMPT_TASKS.map((t) => [t, TemplateListSchema])) as Record<PromptTask, typeof TemplateListSchema>),
});

export const PromptsManifestSchema = z.strictObject({
  format: z.literal(PROMPTS_FORMAT),
  version: z.string(),
  /** The run seed the units were built with; the trainer draws templates from the run seed too. */
  seed: z.int(),
  history: HistoryFormatSchema,
  settings: PromptsSettingsSchema,
  items: z.int().min(0),
  rows: z.strictObject(Object.fromEntries(PROMPT_SPLITS.map((s) => [s, z.int().min(0)])) as Record<PromptSplit, z.ZodInt>),
});
export type PromptsManifest = z.infer<typeof PromptsManifestSchema>;

/** The manifest, the templates and the item text: what renderSample needs. */
export async function readPromptContext(dir: string): Promise<{ manifest: PromptsManifest; context: PromptContext }> {
  const manifestPath = join(dir, MANIFEST_FILE);
  const manifest = parseWithSchema(PromptsManifestSchema, await readJsonFile(manifestPath), manifestPath);
  const templatesPath = join(dir, TEMPLATES_FILE);
  const file = parseWithSchema(TemplatesFileSchema, await readJsonFile(templatesPath), templatesPath);
  const templates = Object.fromEntries(
    PROMPT_TASKS.map((task) => [
      task,
      file.tasks[task].map((t, i): PromptTemplate => {
        if (t.id !== i) throw new BadInputError(`template ${i} of ${task} has id ${t.id}`, { file: templatesPath, field: `tasks.${task}` });
        if (!(SUBTYPES_OF[task] as readonly string[]).includes(t.subtype)) {
          throw new BadInputError(`template ${i} of ${task} has subtype '${t.subtype}'`, { file: templatesPath, field: `tasks.${task}` });
        }
        return { ...t, task, subtype: t.subtype as PromptTemplate['subtype'] };
      }),
    ]),
  ) as unknown as TemplateCatalog;
  const items = await readItemText(join(dir, ITEM_TEXT_FILE));
  if (items.tokens.length !== manifest.items) {
    throw new BadInputError(`${items.tokens.length} items; prompts.json says ${manifest.items}`, { file: join(dir, ITEM_TEXT_FILE) });
  }
  return { manifest, context: { templates, items, history: manifest.history } };
}

export async function readItemText(path: string): Promise<PromptItems> {
  const table = await readParquet(path, ITEM_TEXT_SCHEMA);
  const tokens: string[] = [];
  const ids = table.getChild('item_id')!;
  const tokenColumn = table.getChild('tokens')!;
  for (let i = 0; i < table.numRows; i++) {
    if (ids.get(i) !== i) throw new BadInputError(`row ${i} has item_id ${ids.get(i)}; expected ${i}`, { file: path, field: 'item_id' });
    const t = tokenColumn.get(i);
    if (!t) throw new BadInputError(`row ${i} has no tokens`, { file: path, field: 'tokens' });
    tokens.push(t);
  }
  const strings = (name: 'title' | 'description') => Array.from(table.getChild(name)!, (v) => v ?? null);
  return { tokens, titles: strings('title'), descriptions: strings('description') };
}

/** The units of one split, checked against the templates and the item count. */
export async function readSampleUnits(dir: string, split: PromptSplit, context: PromptContext): Promise<SampleUnit[]> {
  const path = join(dir, SPLIT_FILES[split]);
  const table = await readParquet(path, SAMPLE_SCHEMA);
  const col = <K extends keyof typeof SAMPLE_SCHEMA>(name: K) => table.getChild(name)!;
  const [task, subtype, user, position, history, target, templateIds] = [
    col('task'), col('subtype'), col('user_id'), col('position'), col('history'), col('target'), col('template_ids'),
  ];
  const items = context.items.tokens.length;
  const units: SampleUnit[] = new Array(table.numRows);
  for (let r = 0; r < table.numRows; r++) {
    const bad = (field: string, reason: string) => new BadInputError(`row ${r}: ${reason}`, { file: path, field });
    const t = task.get(r) as PromptTask;
    const list = context.templates[t];
    if (list === undefined) throw bad('task', `unknown task '${t}'`);
    const s = subtype.get(r) as SampleUnit['subtype'];
    if (!SUBTYPES_OF[t].includes(s)) throw bad('subtype', `'${s}' is not a subtype of ${t}`);
    const ids = Int32Array.from((templateIds.get(r)?.toArray() as Int32Array | undefined) ?? []);
    if (ids.length === 0 || ids.some((id) => list[id]?.subtype !== s)) throw bad('template_ids', `[${ids}] are not all ${t}/${s} templates`);
    const h = Int32Array.from((history.get(r)?.toArray() as Int32Array | undefined) ?? []);
    const y = target.get(r) as number;
    if (!(y >= 0 && y < items) || h.some((i) => !(i >= 0 && i < items))) throw bad('history', `an item id is outside 0..${items - 1}`);
    units[r] = { task: t, subtype: s, userId: user.get(r) ?? null, position: position.get(r) ?? null, history: h, target: y, templateIds: ids };
  }
  return units;
}


