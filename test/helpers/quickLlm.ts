/**
 * Config overrides that shrink the LLM stages to a few seconds, for tests whose subject is not the
 * LLM (reruns, faults, the CLI): one short epoch, no Recall@10 during training, test split only.
 * The full `tiny` fine-tuning runs in test/integration/pipeline.test.ts, which checks its quality.
 */
export const QUICK_LLM_SETS = [
  'finetune.epochs=1',
  'finetune.unitsPerEpoch=300',
  'finetune.validation.lossSamples=20',
  'finetune.validation.recallUsers=0',
  'evaluate.splits=[test]',
];

/** The same as `lcrec` arguments. */
export const QUICK_LLM_ARGS = QUICK_LLM_SETS.flatMap((set) => ['--set', set]);
