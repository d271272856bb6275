import { join } from 'node:path';
import type { PipelineConfig } from '../src/config/schema.js';
import { EMBEDDINGS_FILE } from '../src/embed/writeEmbeddings.js';
import type { StageOutput, StagePlan } from '../src/pipeline/contracts.js';
import type { RqvaeSettings } from '../src/rqvae/settings.js';
import { RQVAE_CODE_VERSION, runRqvaeStage } from '../src/rqvae/stage.js';
import { SEMID_VERSION, type CollisionRepairSettings } from '../src/semid/assign.js';
import { runSemidStage } from '../src/semid/stage.js';
import type { ActivityDeps } from './deps.js';
import { asTemporalFailure, inputDir, planStage, runStage } from './stageRunner.js';

/** Optimiser steps between RQ-VAE checkpoints. */
const CHECKPOINT_EVERY = 100;

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

    /** Trains the RQ-VAE; checkpoints go to a worker-local directory keyed by the stage key. */
    async rqvae(p: StagePlan): Promise<StageOutput> {
      const { rqvae, seed } = p.config as { rqvae: RqvaeSettings; seed: number };
      return runStage(store, p, async ({ dir, signal, progress }) => {
        const embeddings = join(await inputDir(store, p.params.embed as StageOutput), EMBEDDINGS_FILE);
        return runRqvaeStage(embeddings, dir, rqvae, {
          seed,
          signal,
          onProgress: progress,
          checkpointDir: join(home, 'work', 'rqvae', p.key),
          checkpointEvery: CHECKPOINT_EVERY,
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
