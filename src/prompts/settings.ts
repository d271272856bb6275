/**
 * Settings of the prompts stage: which tasks and subtypes, how histories are rendered, how the
 * evaluation and validation-loss samples are built. A zod strictObject, so a config file with a
 * misspelt key fails with the key's path; `PROMPTS_PRESETS` holds the values of the `tiny`,
 * `cpu-beauty` and `paper` presets (`PipelineConfigSchema.prompts` in src/config/schema.ts).
 */
import { z } from 'zod';
import { FUSION_SUBTYPES, ITEM_TEXT_SUBTYPES, PROMPT_TASKS, TEMPLATES } from './templates.js';

/** Where the "description" of the item tasks comes from (spec A.4, K.6). */
export const DESCRIPTION_SOURCES = ['description', 'brand-categories'] as const;
export type DescriptionSource = (typeof DESCRIPTION_SOURCES)[number];

const SEQREC_TEMPLATES = TEMPLATES.seqrec.length;

const uniqueList = <T extends z.ZodType>(item: T) =>
  z
    .array(item)
    .min(1)
    .refine((list) => new Set(list).size === list.length, 'entries must be distinct');

export const HistoryFormatSchema = z.strictObject({
  /** Most recent items kept in a history (official --max_his_len, genrec max_seq_len: 20). */
  maxItems: z.int().min(1).max(1000),
  /** Between history entries (official --his_sep ", "). */
  separator: z.string().max(16),
  /** "1. <C0_..>..., 2. ..." (genrec ADD_PREFIX=True; official --add_prefix, off by default). */
  numbered: z.boolean(),
});
export type HistoryFormat = z.infer<typeof HistoryFormatSchema>;

export const PromptsSettingsSchema = z
  .strictObject({
    /** Tasks in the training set; seqrec is always the evaluation task. */
    tasks: uniqueList(z.enum(PROMPT_TASKS)),
    item2index: z.strictObject({ subtypes: uniqueList(z.enum(ITEM_TEXT_SUBTYPES)) }),
    index2item: z.strictObject({ subtypes: uniqueList(z.enum(ITEM_TEXT_SUBTYPES)) }),
    fusionseqrec: z.strictObject({
      subtypes: uniqueList(z.enum(FUSION_SUBTYPES)),
      /** Probability that a training window also gives a fusionseqrec sample (genrec: 0.5). */
      rate: z.number().gt(0).max(1),
    }),
    history: HistoryFormatSchema,
    text: z.strictObject({
      /**
       * `description`: the product description (official). `brand-categories`: "by Brand (c1, c2,
       * c3)" from the brand and the first three categories, genrec's stand-in (which it calls the
       * description); the choice for data without descriptions, such as Amazon 2014 Beauty.
       */
      descriptionSource: z.enum(DESCRIPTION_SOURCES),
      /** Descriptions are cut to this many words (null: whole), so long ones fit a short context. */
      descriptionMaxWords: z.int().min(1).nullable(),
    }),
    validLoss: z.strictObject({
      /** Distinct seqrec templates per user in the eval-loss set (official --valid_prompt_sample_num 2). */
      templatesPerUser: z.int().min(1).max(SEQREC_TEMPLATES),
    }),
    eval: z.strictObject({
      /** `fixed`: one template (official single-prompt mode); `all`: every seqrec template, metrics averaged. */
      templates: z.enum(['fixed', 'all']),
      fixedTemplate: z.int().min(0).max(SEQREC_TEMPLATES - 1),
    }),
    /** Rendered samples written to preview.txt for inspection. */
    previewSamples: z.int().min(0).max(10_000),
  });

export type PromptsSettings = z.infer<typeof PromptsSettingsSchema>;

const ALL_ITEM_SUBTYPES = [...ITEM_TEXT_SUBTYPES];

/**
 * - `tiny`: the bundled sample (it has descriptions); the three genrec tasks, unnumbered
 *   histories (shorter prompts for a small model and a 10-minute budget).
 * - `cpu-beauty`: Amazon 2014 Beauty has no description field, so the item tasks use titles and
 *   the brand/categories text; unnumbered histories; no fusionseqrec (its responses are long
 *   titles: costly tokens for a from-scratch model on two cores).
 * - `paper`: genrec's LC-Rec: seqrec + item2index + index2item, three subtypes each, numbered
 *   histories, brand/categories as the "description" (spec E.3).
 */
export const PROMPTS_PRESETS: Record<'tiny' | 'cpu-beauty' | 'paper', PromptsSettings> = {
  tiny: {
    tasks: ['seqrec', 'item2index', 'index2item'],
    item2index: { subtypes: ALL_ITEM_SUBTYPES },
    index2item: { subtypes: ALL_ITEM_SUBTYPES },
    fusionseqrec: { subtypes: [...FUSION_SUBTYPES], rate: 0.5 },
    history: { maxItems: 20, separator: ', ', numbered: false },
    text: { descriptionSource: 'description', descriptionMaxWords: 40 },
    validLoss: { templatesPerUser: 2 },
    eval: { templates: 'fixed', fixedTemplate: 0 },
    previewSamples: 50,
  },
  'cpu-beauty': {
    tasks: ['seqrec', 'item2index', 'index2item'],
    item2index: { subtypes: ALL_ITEM_SUBTYPES },
    index2item: { subtypes: ['title'] },
    fusionseqrec: { subtypes: [...FUSION_SUBTYPES], rate: 0.5 },
    history: { maxItems: 20, separator: ', ', numbered: false },
    text: { descriptionSource: 'brand-categories', descriptionMaxWords: 40 },
    validLoss: { templatesPerUser: 2 },
    eval: { templates: 'fixed', fixedTemplate: 0 },
    previewSamples: 50,
  },
  paper: {
    tasks: ['seqrec', 'item2index', 'index2item'],
    item2index: { subtypes: ALL_ITEM_SUBTYPES },
    index2item: { subtypes: ALL_ITEM_SUBTYPES },
    fusionseqrec: { subtypes: [...FUSION_SUBTYPES], rate: 0.5 },
    history: { maxItems: 20, separator: ', ', numbered: true },
    text: { descriptionSource: 'brand-categories', descriptionMaxWords: null },
    validLoss: { templatesPerUser: 2 },
    eval: { templates: 'fixed', fixedTemplate: 0 },
    previewSamples: 50,
  },
};

export const DEFAULT_PROMPTS_SETTINGS: PromptsSettings = PROMPTS_PRESETS.tiny;
