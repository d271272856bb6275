/**
 * The two files of the LLM stages that the run report reads. The fine-tuning and evaluate stages
 * write exactly these shapes (import the types, or validate with the schemas before writing);
 * the report renders their sections only when the stage ran and the file is present.
 *
 * finetune stage, `training_log.json`:
 *   {
 *     "format": "lcrec.training_log/1",
 *     "steps": [ { "step": 50, "epoch": 0.42, "loss": 3.71, "lr": 0.0003 }, ... ],
 *     "validation": [ { "step": 119, "epoch": 1, "loss": 2.95 }, ... ]
 *   }
 *   steps       one row per logged optimiser step, in step order: `step` counts optimiser steps
 *               from 1 (after gradient accumulation), `epoch` = step / stepsPerEpoch (fractional),
 *               `loss` = mean training cross-entropy (nats per supervised token) over the steps
 *               since the previous row, `lr` = the learning rate the step used.
 *   validation  one row per validation pass (normally once per epoch), in step order: `loss` =
 *               mean cross-entropy on the validation prompts; optional `metrics` (e.g.
 *               "recall@10" from a quick constrained decode) are shown beside it.
 *
 * evaluate stage, `metrics.json`:
 *   {
 *     "format": "lcrec.eval_metrics/1",
 *     "model": "lc-rec",
 *     "protocol": "leave-one-out, full ranking, trie-constrained beam search, beam 10, template 0",
 *     "beamWidth": 10,
 *     "templates": ["0"],
 *     "splits": { "valid": { "users": 570, "recall@1": ..., "recall@5": ..., "recall@10": ...,
 *                            "ndcg@1": ..., "ndcg@5": ..., "ndcg@10": ... },
 *                 "test": { ... } },
 *     "perTemplate": { "0": { "valid": {...}, "test": {...} }, "1": { ... } }
 *   }
 *   splits       the metrics of src/eval/metrics.ts (Metrics) for each evaluated split; with
 *                several templates, the mean over templates (LC-Rec's protocol).
 *   templates    the seqrec template ids evaluated (numbers are accepted and read as strings).
 *   perTemplate  optional, with several templates: each template's own metrics.
 *   model        the row label in the report's metrics table (default "lc-rec").
 */
import { z } from 'zod';

export const FINETUNE_STAGE = 'finetune';
export const TRAINING_LOG_FILE = 'training_log.json';
export const EVALUATE_STAGE = 'evaluate';
export const EVAL_METRICS_FILE = 'metrics.json';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const rate = z.number().min(0).max(1);

export const TrainingLogSchema = z.object({
  format: z.literal('lcrec.training_log/1'),
  steps: z.array(
    z.object({
      step: z.int().min(1),
      epoch: z.number().min(0),
      loss: finite,
      lr: z.number().min(0),
    }),
  ),
  validation: z
    .array(
      z.object({
        step: z.int().min(0),
        epoch: z.number().min(0),
        loss: finite,
        metrics: z.record(z.string(), finite).optional(),
      }),
    )
    .default([]),
});
export type TrainingLog = z.infer<typeof TrainingLogSchema>;

/** Recall/NDCG at 1, 5, 10 and the number of users averaged over: src/eval/metrics.ts's Metrics. */
export const MetricsSchema = z.object({
  users: z.int().min(0),
  'recall@1': rate,
  'recall@5': rate,
  'recall@10': rate,
  'ndcg@1': rate,
  'ndcg@5': rate,
  'ndcg@10': rate,
});
export type SplitMetrics = z.infer<typeof MetricsSchema>;

const SplitsSchema = z.object({ valid: MetricsSchema.optional(), test: MetricsSchema.optional() });

export const EvalMetricsSchema = z.object({
  format: z.literal('lcrec.eval_metrics/1'),
  model: z.string().min(1).max(60).default('lc-rec'),
  protocol: z.string(),
  beamWidth: z.int().min(1),
  templates: z.array(z.union([z.string(), z.int()]).transform(String)).min(1),
  splits: SplitsSchema,
  perTemplate: z.record(z.string(), SplitsSchema).optional(),
});
export type EvalMetrics = z.infer<typeof EvalMetricsSchema>;
