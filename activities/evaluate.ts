/**
 * The evaluate stage's activities (not registered yet: the integrator adds them to
 * activities/index.ts and the fan-out to workflows/pipeline.ts). The stage is planned once; its
 * key leaves out the shard count, which changes no byte of the result (shards are cut at the
 * evaluation's batch windows; tested with a real model), so a run with another shard count reuses
 * a finished evaluation. When it is not cached the workflow plans one
 * `evaluate-shard` artifact per shard, runs them side by side on the gpu queue, and merges them:
 *
 *   const plan = await planning.planEvaluate(config.evaluate, { ingest, semid, prompts, finetune });
 *   if (plan.cached) return plan.cached;
 *   const shards = await Promise.all(range(config.evaluate.shards).map((s) => planning.planEvaluateShard(plan, s)));
 *   const outs = await Promise.all(shards.map((p) => p.cached ?? gpu.evaluateShard(p)));
 *   return gpu.mergeEvaluation(plan, outs);
 */
import { log } from '@temporalio/activity';
import type { StageName, StageOutput, StagePlan } from '../src/pipeline/contracts.js';
import { EVALUATE_CODE_VERSION, metricsSummary, runEvaluateMerge, runEvaluateShard, type ModelLoader } from '../src/eval/stage.js';
import { parseEvaluateSettings, resultSettings, type EvaluateSettings } from '../src/eval/settings.js';
import type { ActivityDeps } from './deps.js';
import { asTemporalFailure, inputDir, planStage, runStage } from './stageRunner.js';

// Until src/pipeline/contracts.ts lists them, the two stage names are asserted here.
const EVALUATE: StageName = 'evaluate';
// An artifact of its own, not a pipeline stage: the status table shows the merged `evaluate`.
const EVALUATE_SHARD = 'evaluate-shard' as StageName;

export function evaluateActivities({ store }: ActivityDeps, loadModel: ModelLoader) {
  const localDirs = async (upstream: Record<string, StageOutput>) => {
    const dirs: Record<string, string> = {};
    for (const [name, out] of Object.entries(upstream)) dirs[name] = await inputDir(store, out);
    return dirs;
  };
  return {
    /** The merged evaluation's key: settings that change results, and the upstream keys. */
    async planEvaluate(settings: EvaluateSettings, upstream: Record<string, StageOutput>): Promise<StagePlan> {
      try {
        const parsed = parseEvaluateSettings(settings);
        return await planStage(store, {
          stage: EVALUATE,
          codeVersion: EVALUATE_CODE_VERSION,
          config: resultSettings(parsed),
          inputs: Object.fromEntries(Object.entries(upstream).map(([name, out]) => [name, out.key])),
          params: { upstream, settings: parsed },
        });
      } catch (err) {
        throw asTemporalFailure(err);
      }
    },

    /** One shard's artifact: the evaluate plan's key inputs plus the shard index and count. */
    async planEvaluateShard(evaluate: StagePlan, shard: number): Promise<StagePlan> {
      try {
        const settings = evaluate.params.settings as EvaluateSettings;
        return await planStage(store, {
          stage: EVALUATE_SHARD,
          codeVersion: EVALUATE_CODE_VERSION,
          config: { ...(evaluate.config as object), shard, shards: settings.shards },
          inputs: evaluate.inputs,
          params: { ...evaluate.params, shard },
        });
      } catch (err) {
        throw asTemporalFailure(err);
      }
    },

    /** Decodes one shard of users (heartbeats per batch of prompts). */
    async evaluateShard(plan: StagePlan): Promise<StageOutput> {
      return runStage(store, plan, async ({ dir, signal, progress }) => {
        const { upstream, settings, shard } = plan.params as { upstream: Record<string, StageOutput>; settings: EvaluateSettings; shard: number };
        const summary = await runEvaluateShard({ dirs: await localDirs(upstream) }, dir, settings, shard, loadModel, { signal, onProgress: progress });
        log.info(`evaluate shard ${shard + 1}/${settings.shards}: ${summary.prompts} prompts, model ${summary.modelSeconds} s, search ${summary.searchSeconds} s`);
        return summary;
      });
    },

    /** Joins the shards (any order) into metrics.json, predictions.parquet, targets.parquet. */
    async mergeEvaluation(plan: StagePlan, shards: StageOutput[]): Promise<StageOutput> {
      return runStage(store, plan, async ({ dir, progress }) => {
        const { upstream } = plan.params as { upstream: Record<string, StageOutput> };
        const ingest = upstream.ingest;
        if (!ingest) throw new Error('evaluate: the plan has no ingest output');
        progress({ phase: 'merging', done: 0, total: shards.length });
        const shardDirs = [];
        for (const s of shards) shardDirs.push(await inputDir(store, s));
        const metrics = await runEvaluateMerge(await inputDir(store, ingest), shardDirs, dir);
        const timing = shards.reduce(
          (t, s) => ({ modelSeconds: t.modelSeconds + Number(s.summary.modelSeconds ?? 0), searchSeconds: t.searchSeconds + Number(s.summary.searchSeconds ?? 0) }),
          { modelSeconds: 0, searchSeconds: 0 },
        );
        return { metrics: metricsSummary(metrics), users: metrics.users, templates: metrics.templates, beamWidth: metrics.beamWidth, shards: shards.length, ...timing };
      });
    },
  };
}
