import { log } from '@temporalio/activity';
import { BASELINES_CODE_VERSION, runBaselines, type BaselineSettings } from '../src/baselines/runBaselines.js';
import type { PipelineConfig } from '../src/config/schema.js';
import type { StageOutput, StagePlan } from '../src/pipeline/contracts.js';
import type { ActivityDeps } from './deps.js';
import { asTemporalFailure, inputDir, planStage, runStage } from './stageRunner.js';

export function baselineActivities({ store }: ActivityDeps) {
  return {
    async planBaselines(config: PipelineConfig, ingested: StageOutput): Promise<StagePlan> {
      try {
        return await planStage(store, {
          stage: 'baselines',
          codeVersion: BASELINES_CODE_VERSION,
          config: { baselines: config.baselines, seed: config.seed },
          inputs: { ingest: ingested.key },
          params: { ingest: ingested },
        });
      } catch (err) {
        throw asTemporalFailure(err);
      }
    },

    /** Popularity and item-transition, fitted and evaluated with the shared metric code. */
    async baselines(plan: StagePlan): Promise<StageOutput> {
      return runStage(store, plan, async ({ dir, progress, signal }) => {
        const data = await inputDir(store, plan.params.ingest as StageOutput);
        const { baselines, seed } = plan.config as { baselines: BaselineSettings; seed: number };
        const report = await runBaselines(data, dir, baselines, { seed, signal, onProgress: progress, log: (line) => log.info(line) });
        const metrics: Record<string, Record<string, unknown>> = {};
        for (const [split, models] of Object.entries(report.splits)) {
          for (const [model, m] of Object.entries(models)) {
            metrics[model] ??= {};
            metrics[model][split] = { 'recall@5': m['recall@5'], 'recall@10': m['recall@10'], 'ndcg@5': m['ndcg@5'], 'ndcg@10': m['ndcg@10'] };
          }
        }
        const sasrec = report.sasrec && { bestEpoch: report.sasrec.bestEpoch, trainSeconds: Math.round(report.sasrec.trainSeconds), backend: report.sasrec.backend };
        return { metrics, ...(sasrec ? { sasrec } : {}) };
      });
    },
  };
}
