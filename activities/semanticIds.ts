import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import type { PipelineConfig } from '../src/config/schema.js';
import { EMBEDDINGS_FILE } from '../src/embed/writeEmbeddings.js';
import type { StageOutput, StagePlan } from '../src/pipeline/contracts.js';
import type { RqvaeSettings } from '../src/rqvae/settings.js';
import { readCheckpointDir, writeCheckpointDir } from '../src/rqvae/checkpointFiles.js';
import { RQVAE_CODE_VERSION, runRqvaeStage } from '../src/rqvae/stage.js';
import type { RqvaeCheckpointing } from '../src/rqvae/train.js';
import type { RqvaeTrainingState } from '../src/rqvae/trainState.js';
import { StoreStepCheckpoints } from '../src/store/stepCheckpoints.js';
import { SEMID_VERSION, type CollisionRepairSettings } from '../src/semid/assign.js';
import { runSemidStage } from '../src/semid/stage.js';
import type { ActivityDeps } from './deps.js';
import { asTemporalFailure, inputDir, planStage, runStage } from './stageRunner.js';

/** Optimiser steps between RQ-VAE checkpoints in the worker's own directory (cheap: a local write). */
const CHECKPOINT_EVERY = 100;
/** Every this many steps a checkpoint also goes to the artifact store, for a retry on another machine. */
const STORE_CHECKPOINT_EVERY = 500;
export const RQVAE_CHECKPOINT_STAGE = 'rqvae-checkpoint';

/**
 * Local checkpoints every CHECKPOINT_EVERY steps (and the one a cancel leaves), store checkpoints
 * every STORE_CHECKPOINT_EVERY; a new attempt resumes from whichever of the two is newer.
 */
function rqvaeCheckpointing(opts: {
  localDir: string;
  stored: StoreStepCheckpoints<RqvaeTrainingState>;
  totalSteps: number;
  onStored: (key: string, step: number) => void;
}): RqvaeCheckpointing {
  return {
    every: CHECKPOINT_EVERY,
    async save(state) {
      await writeCheckpointDir(opts.localDir, state);
      const { step } = state.meta;
      if (step % STORE_CHECKPOINT_EVERY === 0 && step < opts.totalSteps) opts.onStored(await opts.stored.save(state), step);
    },
    async load() {
      const local = await readCheckpointDir(opts.localDir);
      const candidates = Array.from({ length: Math.floor(opts.totalSteps / STORE_CHECKPOINT_EVERY) }, (_, i) => (i + 1) * STORE_CHECKPOINT_EVERY);
      const stored = await opts.stored.loadNewest(candidates.filter((step) => step > (local?.meta.step ?? 0)));
      return stored ?? local;
    },
  };
}

export function semanticIdActivities({ store, home }: ActivityDeps) {
  const plan = async (stage: 'rqvae' | 'semid', codeVersion: string, config: unknown, upstream: Record<string, StageOutput>) => {
    try {
      const inputs = Object.fromEntries(Object.entries(upstream).map(([name, out]) => [name, out.key]));
      return await planStage(store, { stage, codeVersion, config, inputs, params: upstream });
    } catch (err) {
      throw asTemporalFailure(err);
    }
  };
  return {
    async planRqvae(config: PipelineConfig, embedded: StageOutput): Promise<StagePlan> {
      return plan('rqvae', RQVAE_CODE_VERSION, { rqvae: config.rqvae, seed: config.seed }, { embed: embedded });
    },

    /** Trains the RQ-VAE; checkpoints go to a worker-local directory and, less often, to the store. */
    async rqvae(p: StagePlan): Promise<StageOutput> {
      const { rqvae, seed } = p.config as { rqvae: RqvaeSettings; seed: number };
      const ctx = Context.current();
      const attempt = `${ctx.info.workflowExecution?.runId ?? ctx.info.activityId}-a${ctx.info.attempt}`;
      const previous = ctx.info.heartbeatDetails as { checkpointKey?: unknown } | undefined;
      let checkpointKey = typeof previous?.checkpointKey === 'string' ? previous.checkpointKey : undefined;
      return runStage(store, p, async ({ dir, signal, progress }) => {
        const embeddingsDir = await inputDir(store, p.params.embed as StageOutput);
        const embeddings = join(embeddingsDir, EMBEDDINGS_FILE);
        const items = Number((p.params.embed as StageOutput).summary.items ?? 0);
        const totalSteps = rqvae.epochs * Math.ceil(items / rqvae.batchSize);
        const stored = new StoreStepCheckpoints<RqvaeTrainingState>({
          store,
          stage: RQVAE_CHECKPOINT_STAGE,
          stageKey: p.key,
          attempt,
          hint: checkpointKey,
          codec: { write: writeCheckpointDir, read: readCheckpointDir, step: (state) => state.meta.step },
        });
        return runRqvaeStage(embeddings, dir, rqvae, {
          seed,
          signal,
          // The newest store checkpoint rides along every heartbeat: a retry elsewhere starts there.
          onProgress: (beat) => progress({ ...beat, ...(checkpointKey ? { checkpointKey } : {}) }),
          checkpoint: rqvaeCheckpointing({
            localDir: join(home, 'work', 'rqvae', p.key),
            stored,
            totalSteps,
            onStored: (key, step) => {
              checkpointKey = key;
              ctx.heartbeat({ phase: 'checkpoint', done: step, checkpointKey: key });
            },
          }),
        });
      });
    },

    async planSemid(config: PipelineConfig, embedded: StageOutput, trained: StageOutput): Promise<StagePlan> {
      return plan('semid', SEMID_VERSION, config.semid, { embed: embedded, rqvae: trained });
    },

    async semid(p: StagePlan): Promise<StageOutput> {
      return runStage(store, p, async ({ dir, progress }) => {
        const embeddings = join(await inputDir(store, p.params.embed as StageOutput), EMBEDDINGS_FILE);
        const model = await inputDir(store, p.params.rqvae as StageOutput);
        return runSemidStage(embeddings, model, dir, p.config as CollisionRepairSettings, { onProgress: progress });
      });
    },
  };
}
