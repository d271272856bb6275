/**
 * The files of the existing stages that the run report reads, validated on read: only the fields
 * the report shows are checked, so a stage may add fields without breaking it. A file that does
 * not match fails with a BadInputError naming the file and the field.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { BadInputError } from '../errors.js';
import { MetricsSchema } from './llmFiles.js';

const count = z.int().min(0);
const finite = z.number().refine(Number.isFinite, 'must be a finite number');

/** ingest: stats.json (src/data/ingest.ts). */
export const IngestStatsSchema = z.looseObject({
  format: z.string().optional(),
  users: count,
  items: count,
  interactions: count,
  avgSequenceLength: finite.optional(),
  minSequenceLength: count.optional(),
  maxSequenceLength: count.optional(),
  density: finite.optional(),
  kCore: count.nullable().optional(),
  kCoreRounds: count.optional(),
  source: z.record(z.string(), count).optional(),
  dropped: z.record(z.string(), count).optional(),
  tieBreak: z.string().optional(),
});
export type IngestStats = z.infer<typeof IngestStatsSchema>;

/** One RQ-VAE evaluation (src/rqvae/evaluate.ts); `trainLoss` (mean epoch loss) when the trainer records it. */
export const RqvaeEvaluationSchema = z.looseObject({
  epoch: count,
  step: count,
  reconLoss: finite,
  trainLoss: finite.optional(),
  collisionRate: finite,
  collidingItemRate: finite.optional(),
  usage: z.array(finite),
  perplexity: z.array(finite),
});
export type RqvaeEvaluationRow = z.infer<typeof RqvaeEvaluationSchema>;

/** rqvae: training_report.json (src/rqvae/stage.ts). */
export const RqvaeReportSchema = z.looseObject({
  selected: RqvaeEvaluationSchema,
  selectionRule: z.string().optional(),
  evaluations: z.array(RqvaeEvaluationSchema).min(1),
  steps: count.optional(),
  seconds: finite.optional(),
  resumedFromStep: count.nullable().optional(),
});
export type RqvaeReport = z.infer<typeof RqvaeReportSchema>;

const CollisionStatsSchema = z.looseObject({
  collisionRate: finite,
  distinctIds: count,
  collidingItems: count,
  groups: count,
  largestGroup: count,
});

/** semid: collision_report.json (src/semid/assign.ts CollisionReport). */
export const CollisionReportSchema = z.looseObject({
  items: count,
  rqLevels: count,
  levels: count,
  codebookSizes: z.array(count),
  settings: z.record(z.string(), z.unknown()).optional(),
  before: CollisionStatsSchema,
  afterSinkhorn: CollisionStatsSchema,
  final: CollisionStatsSchema,
  sinkhornRounds: count,
  stoppedBecause: z.string(),
  itemsReassigned: count,
  extraLevel: z.looseObject({ added: z.boolean(), items: count, groups: count, size: count }),
  levelUsage: z.array(z.looseObject({ level: count, size: count, used: count, perplexity: finite })),
});
export type CollisionReport = z.infer<typeof CollisionReportSchema>;

/** baselines: metrics.json (src/baselines/runBaselines.ts BaselineReport). */
export const BaselineMetricsSchema = z.looseObject({
  protocol: z.string(),
  splits: z.object({
    valid: z.record(z.string(), MetricsSchema),
    test: z.record(z.string(), MetricsSchema),
  }),
  sasrec: z
    .looseObject({
      epochs: z.array(z.looseObject({ epoch: count, loss: finite, validRecall10: finite, seconds: finite })),
      bestEpoch: count,
      trainSeconds: finite,
      backend: z.string(),
    })
    .optional(),
});
export type BaselineMetrics = z.infer<typeof BaselineMetricsSchema>;

/** Reads and validates a JSON file; errors name the file and the first offending field. */
export async function readJsonFile<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BadInputError('no such file', { file: path });
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(`not valid JSON (${err instanceof Error ? err.message : String(err)})`, { file: path });
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.map(String).join('.');
  throw new BadInputError(issue.message, { file: path, ...(field ? { field } : {}) });
}
