import type { PromptSubtype, PromptTask } from './templates.js';

/**
 * One row of the prompts stage's tables: everything a sample needs except the template, which
 * the trainer draws per epoch (templateDraw.ts) from `templateIds`. Rendering is renderSample().
 */
export interface SampleUnit {
  task: PromptTask;
  subtype: PromptSubtype;
  /** The user of a sequence task; null for the item tasks. */
  userId: number | null;
  /** Index of `target` in the user's full sequence; null for the item tasks. */
  position: number | null;
  /** Item ids, oldest first, already capped to the most recent `history.maxItems`; empty for item tasks. */
  history: Int32Array;
  /** The item the sample is about: the next item of a sequence task, the item of an item task. */
  target: number;
  /** Eligible template ids of `task` (all of the subtype's, or the fixed ones of eval/valid-loss rows). */
  templateIds: Int32Array;
}
