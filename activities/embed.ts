import { join } from 'node:path';
import type { PipelineConfig } from '../src/config/schema.js';
import { embedItems, EMBED_CODE_VERSION, type EmbedSettings } from '../src/embed/embedItems.js';
import type { StageOutput, StagePlan } from '../src/pipeline/contracts.js';
import { BadInputError } from '../src/errors.js';
import { modelDirDigest } from '../src/llm/modelDigest.js';
import { sha256File } from '../src/store/digest.js';
import type { ActivityDeps } from './deps.js';
import { asTemporalFailure, inputDir, planStage, runStage } from './stageRunner.js';

export function embedActivities({ store, home }: ActivityDeps) {
  return {
    /** The key covers the items (ingest key), the encoder settings, and a user's embedding file by content. */
    async planEmbed(config: PipelineConfig, ingested: StageOutput): Promise<StagePlan> {
      try {
        const inputs: Record<string, string> = { ingest: ingested.key };
        if (config.embed.encoder === 'file') {
          for (const [name, path] of Object.entries({ file: config.embed.file.path, ids: config.embed.file.idsPath })) {
            if (path) inputs[name] = `sha256:${(await sha256File(path).catch(() => ({ sha256: 'missing' }))).sha256}`;
          }
        }
        if (config.embed.encoder === 'hf') {
          if (!config.embed.hf.modelDir) throw new BadInputError('the hf encoder needs embed.hf.modelDir: a local Hugging Face model directory', { field: 'embed.hf.modelDir' });
          inputs.model = await modelDirDigest(config.embed.hf.modelDir, 'embed.hf.modelDir');
        }
        return await planStage(store, {
          stage: 'embed',
          codeVersion: EMBED_CODE_VERSION,
          config: { embed: config.embed, seed: config.seed },
          inputs,
          params: { ingest: ingested },
        });
      } catch (err) {
        throw asTemporalFailure(err);
      }
    },

    /** items.parquet -> item_embeddings.safetensors; TF-IDF resumes from the chunks a failed attempt left. */
    async embed(plan: StagePlan): Promise<StageOutput> {
      const { embed, seed } = plan.config as { embed: EmbedSettings; seed: number };
      return runStage(store, plan, async ({ dir, signal, progress }) => {
        const data = await inputDir(store, plan.params.ingest as StageOutput);
        const summary = await embedItems({
          itemsPath: join(data, 'items.parquet'),
          outDir: dir,
          settings: embed,
          seed,
          // Worker-local and keyed by the stage key, so a retried attempt on this worker resumes.
          workDir: join(home, 'work', 'embed', plan.key),
          fingerprint: plan.key,
          onProgress: progress,
          signal,
        });
        const { encoder, items, dim, vocabulary } = summary;
        return { encoder, items, dim, ...(vocabulary !== undefined ? { vocabulary } : {}) };
      });
    },
  };
}
