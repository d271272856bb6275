/**
 * The fine-tuning trainer's per-epoch `recallAt10` hook (src/finetune/trainer.ts FinetuneOptions):
 * Recall@10 of the constrained beam search on the valid targets of a fixed, seeded sample of
 * users, with the model's weights of the moment. The same evaluation code as the evaluate stage,
 * so the epoch picked on valid is picked by the metric the run reports.
 */
import { rngFor } from '../tensor/rng.js';
import { evaluateUsers, type GenerativeRecommender } from './generative.js';
import { metricsFromRanks } from './metrics.js';

export interface RecallHookOptions {
  /** The run's seed: the sampled users derive from it. */
  seed: number;
  template: number;
  beamWidth: number;
  batchPrompts: number;
  maxHistory: number;
}

export function validRecallAt10(model: GenerativeRecommender, sequences: readonly Int32Array[], opts: RecallHookOptions): (ctx: { users: number }) => Promise<number> {
  return async ({ users }) => {
    const chosen = sampleUsers(sequences.length, users, opts.seed);
    const subset = Array.from(chosen, (u) => sequences[u] as Int32Array);
    const { parts } = await evaluateUsers(model, subset, { from: 0, to: subset.length }, {
      splits: ['valid'],
      templates: [opts.template],
      beamWidth: opts.beamWidth,
      batchPrompts: opts.batchPrompts,
      maxHistory: opts.maxHistory,
    });
    return metricsFromRanks((parts[0] as { targetRank: Int32Array }).targetRank)['recall@10'];
  };
}

/** `count` distinct users of `total` (all when count >= total), ascending; the same for the same seed. */
export function sampleUsers(total: number, count: number, seed: number): Int32Array {
  if (count >= total) return Int32Array.from({ length: total }, (_, i) => i);
  const rng = rngFor(seed, 'finetune/recall-users');
  const pool = Int32Array.from({ length: total }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(total - i);
    [pool[i], pool[j]] = [pool[j] as number, pool[i] as number];
  }
  return pool.slice(0, count).sort();
}
