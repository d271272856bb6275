import type { ActivityDeps } from './deps.js';
import { baselineActivities } from './baselines.js';
import { embedActivities } from './embed.js';
import { evaluateActivities } from './evaluate.js';
import { finetuneActivities } from './finetune.js';
import { loadFinetunedModel } from '../src/finetune/finetunedModel.js';
import { ingestActivities } from './ingest.js';
import { promptActivities } from './prompts.js';
import { runManifestActivities } from './runManifest.js';
import { semanticIdActivities } from './semanticIds.js';

export type { ActivityDeps } from './deps.js';

/** Every activity, bound to the worker's store and data directory. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...runManifestActivities(deps), ...ingestActivities(deps), ...baselineActivities(deps), ...embedActivities(deps),
    ...semanticIdActivities(deps), ...promptActivities(deps), ...finetuneActivities(deps), ...evaluateActivities(deps, loadFinetunedModel),
  };
}

export type Activities = ReturnType<typeof createActivities>;
