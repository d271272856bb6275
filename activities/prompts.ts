import type { PipelineConfig } from '../src/config/schema.js';
import { BadInputError } from '../src/errors.js';
import type { StageName, StageOutput, StagePlan } from '../src/pipeline/contracts.js';
import { PromptsSettingsSchema, type PromptsSettings } from '../src/prompts/settings.js';
import { PROMPTS_CODE_VERSION, runPromptsStage } from '../src/prompts/stage.js';
import type { ActivityDeps } from './deps.js';
import { asTemporalFailure, inputDir, planStage, runStage } from './stageRunner.js';

const PROMPTS_STAGE: StageName = 'prompts';

/** The `prompts` slice of the pipeline config (PromptsSettingsSchema), validated again at the boundary. */
function promptsSettings(config: PipelineConfig): PromptsSettings {
  const parsed = PromptsSettingsSchema.safeParse(config.prompts);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new BadInputError(issue.message, { field: ['prompts', ...issue.path].join('.') });
}

export function promptActivities({ store }: ActivityDeps) {
  return {
    /** The key covers the dataset (ingest key), the semantic IDs (semid key), the settings and the seed. */
    async planPrompts(config: PipelineConfig, ingested: StageOutput, semids: StageOutput): Promise<StagePlan> {
      try {
        return await planStage(store, {
          stage: PROMPTS_STAGE,
          codeVersion: PROMPTS_CODE_VERSION,
          config: { prompts: promptsSettings(config), seed: config.seed },
          inputs: { ingest: ingested.key, semid: semids.key },
          params: { ingest: ingested, semid: semids },
        });
      } catch (err) {
        throw asTemporalFailure(err);
      }
    },

    /** sequences + items + semantic IDs -> the sample units of every split, item text, templates, summary, preview. */
    async prompts(plan: StagePlan): Promise<StageOutput> {
      const { prompts, seed } = plan.config as { prompts: PromptsSettings; seed: number };
      return runStage(store, plan, async ({ dir, progress }) => {
        const dataset = await inputDir(store, plan.params.ingest as StageOutput);
        const semid = await inputDir(store, plan.params.semid as StageOutput);
        return runPromptsStage(dataset, semid, dir, prompts, seed, { onProgress: progress });
      });
    },
  };
}
