/**
 * Settings of the generative evaluation (spec G; issue 8 items 2-3). The integrator adds
 * `evaluate: EvaluateSettingsSchema` to the pipeline config and DEFAULT_EVALUATE_SETTINGS (or its
 * variants) to the presets; `lcrec recommend` reads `beamWidth` from a run's config.
 */
import { z } from 'zod';
import { BadInputError } from '../errors.js';

export const EVAL_SPLITS = ['valid', 'test'] as const;

export const EvaluateSettingsSchema = z.strictObject({
  /** Beams per prompt = length of each recommended list; >= 10, the largest K (LC-Rec: 20). */
  beamWidth: z.int().min(10).max(256),
  /** The seqrec template of the default single-template protocol. */
  template: z.int().min(0),
  /** Evaluate every seqrec template and report each and their mean (LC-Rec's protocol). */
  allTemplates: z.boolean(),
  /** Which leave-one-out targets to evaluate: settings are chosen on valid, reported on test. */
  splits: z.array(z.enum(EVAL_SPLITS)).min(1),
  /** Users are cut into this many contiguous shards (at batch-window boundaries), one activity each; results do not depend on it. */
  shards: z.int().min(1).max(1024),
  /** Prompts decoded together in one session (rows = prompts x beams). */
  batchPrompts: z.int().min(1).max(4096),
  /** Most recent history items rendered into a prompt (LC-Rec: 20). */
  maxHistory: z.int().min(1).max(1000),
});

export type EvaluateSettings = z.infer<typeof EvaluateSettingsSchema>;

export const DEFAULT_EVALUATE_SETTINGS: EvaluateSettings = {
  beamWidth: 10,
  template: 0,
  allTemplates: false,
  splits: ['valid', 'test'],
  shards: 1,
  batchPrompts: 32,
  maxHistory: 20,
};

/** Validates evaluation settings; errors name the key (`evaluate.beamWidth: ...`). */
export function parseEvaluateSettings(value: unknown): EvaluateSettings {
  const result = EvaluateSettingsSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new BadInputError(issue.message, { field: ['evaluate', ...issue.path.map(String)].join('.') });
}

/**
 * The settings that change results. The shard count does not (tested: shards are cut at batch
 * boundaries, shards.ts), so it stays out of stage keys; the batch size stays in, since a real
 * model's logits may differ in their last bits with the prompts that share a batch.
 */
export function resultSettings(s: EvaluateSettings): Omit<EvaluateSettings, 'shards'> {
  const { shards: _shards, ...rest } = s;
  return rest;
}

/** The template ids to evaluate, given every seqrec template id the prompt builder knows. */
export function evaluationTemplates(s: EvaluateSettings, seqrecTemplates: readonly number[]): number[] {
  if (s.allTemplates) {
    if (seqrecTemplates.length === 0) throw new BadInputError('the prompt builder lists no seqrec templates', { field: 'evaluate.allTemplates' });
    return [...seqrecTemplates];
  }
  if (!seqrecTemplates.includes(s.template)) throw new BadInputError(`${s.template} is not a seqrec template (known: ${seqrecTemplates.join(', ')})`, { field: 'evaluate.template' });
  return [s.template];
}
