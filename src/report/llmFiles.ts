/**
 * The files of the LLM stages that the run report reads. Their writers define them:
 *   finetune stage, `training_log.json`: src/finetune/trainingLog.ts (TrainingLog, format
 *     `lcrec-finetune-log/1`): one row per optimiser step {step, epoch (fractional), loss, lr,
 *     gradNorm, tokens} and one per epoch's validation {epoch, step, trainLoss, loss | null,
 *     recallAt10 | null, ...}, plus the kept epoch and the rule that picked it;
 *   evaluate stage, `metrics.json`: src/eval/evaluationFiles.ts (EvaluationMetrics, format
 *     `lcrec.generative_metrics/1`): per split, each template's Metrics and their mean/min/max.
 * The report validates the training log with the schema below (only the fields it shows) and
 * reads metrics.json through the evaluate stage's own checked reader. Sections for these stages
 * appear only when the run has the stage and the file.
 */
import { z } from 'zod';
import { TRAINING_LOG_FILE, TRAINING_LOG_FORMAT } from '../finetune/trainingLog.js';
import { METRICS_FILE } from '../eval/evaluationFiles.js';

export const FINETUNE_STAGE = 'finetune';
/** The merge of the evaluation (metrics.json), and its shards (one activity each; their summaries name the model). */
export const EVALUATE_STAGE = 'evaluate';
export const EVALUATE_SHARD_STAGE = 'evaluate-shard';
export { TRAINING_LOG_FILE, METRICS_FILE as EVAL_METRICS_FILE };

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const rate = z.number().min(0).max(1);

/** training_log.json as the report uses it (src/finetune/trainingLog.ts TrainingLog). */
export const TrainingLogSchema = z.looseObject({
  format: z.literal(TRAINING_LOG_FORMAT),
  mode: z.string().optional(),
  steps: z.array(z.looseObject({ step: z.int().min(1), epoch: z.number().min(0), loss: finite, lr: z.number().min(0) })),
  validation: z.array(
    z.looseObject({
      epoch: z.int().min(0),
      step: z.int().min(0),
      trainLoss: finite.optional(),
      loss: finite.nullable(),
      recallAt10: rate.nullable().optional(),
    }),
  ),
  selectBy: z.string().optional(),
  bestEpoch: z.int().nullable().optional(),
  totalSteps: z.int().optional(),
  stepsPerEpoch: z.int().optional(),
  resumedFromStep: z.int().nullable().optional(),
});
export type TrainingLog = z.infer<typeof TrainingLogSchema>;

/** Recall/NDCG at 1, 5, 10 and the number of users averaged over: src/eval/metrics.ts's Metrics. */
export const MetricsSchema = z.looseObject({
  users: z.int().min(0),
  'recall@1': rate,
  'recall@5': rate,
  'recall@10': rate,
  'ndcg@1': rate,
  'ndcg@5': rate,
  'ndcg@10': rate,
});
export type SplitMetrics = z.infer<typeof MetricsSchema>;
