import type { PipelineConfig } from '../src/config/schema.js';
import { BadInputError } from '../src/errors.js';
import { ingest, INGEST_CODE_VERSION } from '../src/data/ingest.js';
import type { SourceFiles } from '../src/data/sources.js';
import type { StageOutput, StagePlan } from '../src/pipeline/contracts.js';
import type { ActivityDeps } from './deps.js';
import { digestSourceFiles, materializeSource } from './sourceFiles.js';
import { asTemporalFailure, planStage, runStage } from './stageRunner.js';

export function ingestActivities({ store, home }: ActivityDeps) {
  return {
    /** Resolves and digests the sources; the key depends on their content, never on their path. */
    async planIngest(config: PipelineConfig): Promise<StagePlan> {
      try {
        const files = await materializeSource(config.dataset, home);
        return await planStage(store, {
          stage: 'ingest',
          codeVersion: INGEST_CODE_VERSION,
          config: { format: config.dataset.format, ingest: config.ingest },
          inputs: await digestSourceFiles(files),
          params: { files },
        });
      } catch (err) {
        throw asTemporalFailure(err);
      }
    },

    async ingest(plan: StagePlan): Promise<StageOutput> {
      const files = plan.params.files as SourceFiles;
      const { ingest: settings } = plan.config as { ingest: PipelineConfig['ingest'] };
      return runStage(store, plan, async ({ dir, signal, progress }) => {
        const stats = await ingest(files, files.format, settings, dir, { signal, onProgress: progress });
        // The key promised these exact bytes: data replaced mid-run must not be published under it.
        const after = await digestSourceFiles(files);
        for (const [role, digest] of Object.entries(after)) {
          if (plan.inputs[role] !== digest) {
            throw new BadInputError('the file changed while it was being ingested; start the run again', { file: files.files[role] });
          }
        }
        const { users, items, interactions, dropped } = stats;
        return { users, items, interactions, dropped };
      });
    },
  };
}
