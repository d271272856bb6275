/**
 * The fine-tuning stage as a Temporal activity: a thin adapter over src/finetune. It reads the
 * prompts, semantic IDs and sequences of upstream stages, prepares the base model, trains with
 * checkpoints in the artifact store (stage `finetune-checkpoint`, key `<this key>-step<N>`, under
 * this attempt's id), heartbeats progress and the newest checkpoint key, and publishes the
 * trained model (or LoRA adapter) with training_log.json.
 *
 * A retried attempt (same workflow run) finds the checkpoint named in the last heartbeat; a new
 * run of the same stage key (`lcrec resume`) probes the key's checkpoint steps, newest first. Both
 * continue at the exact step, with the same result as an uninterrupted run.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import type { PipelineConfig } from '../src/config/schema.js';
import { readSequenceData } from '../src/data/datasetReader.js';
import { writeTokenizerFiles } from '../src/llm/tokenizerFiles.js';
import { BadInputError } from '../src/errors.js';
import { prepareBaseModel } from '../src/finetune/baseModel.js';
import { promptCorpus, promptTrainingData, readPromptUnits, seqrecPromptRenderer } from '../src/finetune/promptData.js';
import { FinetuneSettingsSchema } from '../src/finetune/settings.js';
import type { FinetuneSettings } from '../src/finetune/settings.js';
import { FINETUNE_CODE_VERSION, runFinetuneStage } from '../src/finetune/stage.js';
import { ArtifactCheckpointStore } from '../src/finetune/storeCheckpoints.js';
import { recallAt10Hook } from '../src/finetune/validationRecall.js';
import { modelDirDigest } from '../src/llm/modelDigest.js';
import type { StageName, StageOutput, StagePlan } from '../src/pipeline/contracts.js';
import { codeToken } from '../src/semid/vocabulary.js';
import { readSemanticIds } from '../src/semid/writeSemanticIds.js';
import { sha256File } from '../src/store/digest.js';
import type { ActivityDeps } from './deps.js';
import { asTemporalFailure, inputDir, planStage, runStage } from './stageRunner.js';

// Until src/pipeline/contracts.ts lists 'finetune' among the stage names.
const FINETUNE_STAGE: StageName = 'finetune';

/** The `finetune` slice of the pipeline config (FinetuneSettingsSchema), validated. */
function finetuneSettings(config: PipelineConfig): FinetuneSettings {
  const parsed = FinetuneSettingsSchema.safeParse((config as unknown as { finetune?: unknown }).finetune ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new BadInputError(issue.message, { field: ['finetune', ...issue.path].join('.') });
}

/** A pretrained base enters the key by content (src/llm/modelDigest.ts). */
async function baseModelDigest(settings: FinetuneSettings): Promise<string> {
  return settings.base.kind === 'pretrained' ? modelDirDigest(settings.base.path, 'finetune.base.path') : 'scratch';
}

export function finetuneActivities({ store }: ActivityDeps) {
  return {
    /** The key covers the prompts (and through them ingest + semid), the base model, the settings and the seed. */
    async planFinetune(config: PipelineConfig, ingested: StageOutput, semids: StageOutput, prompted: StageOutput): Promise<StagePlan> {
      try {
        const finetune = finetuneSettings(config);
        return await planStage(store, {
          stage: FINETUNE_STAGE,
          codeVersion: FINETUNE_CODE_VERSION,
          config: { finetune, seed: config.seed },
          inputs: { ingest: ingested.key, semid: semids.key, prompts: prompted.key, base: await baseModelDigest(finetune) },
          params: { ingest: ingested, semid: semids, prompts: prompted },
        });
      } catch (err) {
        throw asTemporalFailure(err);
      }
    },

    /** prompts + semantic IDs (+ sequences for Recall@10) -> the fine-tuned model and training_log.json. */
    async finetune(plan: StagePlan): Promise<StageOutput> {
      const { finetune: settings, seed } = plan.config as { finetune: FinetuneSettings; seed: number };
      const ctx = Context.current();
      const attempt = `${ctx.info.workflowExecution?.runId ?? ctx.info.activityId}-a${ctx.info.attempt}`;
      const previous = ctx.info.heartbeatDetails as { checkpointKey?: unknown } | undefined;
      const hint = typeof previous?.checkpointKey === 'string' ? previous.checkpointKey : undefined;
      return runStage(store, plan, async ({ dir, signal, progress }) => {
        let checkpointKey = hint;
        const beat = (p: { phase: string; done: number; total?: number }) => progress({ ...p, ...(checkpointKey ? { checkpointKey } : {}) } as typeof p);
        beat({ phase: 'loading', done: 0 });
        const units = await readPromptUnits(await inputDir(store, plan.params.prompts as StageOutput));
        const semanticIds = await readSemanticIds(await inputDir(store, plan.params.semid as StageOutput));
        const base = await prepareBaseModel(settings.base, semanticIds.vocabulary, seed, () => promptCorpus(units));
        try {
          const data = promptTrainingData(units, base.tokenizer, settings.maxLength, seed);
          const recallAt10 =
            settings.validation.recallUsers > 0
              ? recallAt10Hook({
                  model: base.model,
                  trie: semanticIds.trie,
                  tokens: {
                    eosId: base.tokenizer.eosId,
                    codeTokenId: (level, code) => base.tokenizer.tokenToId(codeToken(level, code)) ?? -1,
                  },
                  sequences: (await readSequenceData(await inputDir(store, plan.params.ingest as StageOutput))).sequences,
                  renderPrompt: seqrecPromptRenderer(units.context, base.tokenizer),
                  template: units.evalTemplate,
                  maxHistory: units.maxHistory,
                  seed,
                })
              : undefined;
          const summary = await runFinetuneStage(base.model, data, settings, dir, {
            seed,
            newTokenIds: base.codeTokenIds,
            headTokens: settings.head === 'codes' ? Int32Array.from([...base.codeTokenIds, base.tokenizer.eosId]) : undefined,
            recallAt10,
            checkpoints: new ArtifactCheckpointStore({ store, stageKey: plan.key, attempt, hint }),
            onCheckpoint: (ref, step) => {
              checkpointKey = ref;
              ctx.heartbeat({ phase: 'checkpoint', done: step, checkpointKey: ref }); // unthrottled: a retry must see it
            },
            signal,
            onProgress: beat,
            saveModel: base.saveModel,
            saveTokenizer: (d) => writeTokenizerFiles(d, base.files),
            baseModel: base.name,
            log: (line) => ctx.log.info(line),
          });
          return { ...summary, trainUnits: units.train.length, validLossUnits: units.validLoss.length, vocabulary: base.tokenizer.size, historyDropped: data.droppedHistory() };
        } finally {
          base.model.dispose();
        }
      });
    },
  };
}
