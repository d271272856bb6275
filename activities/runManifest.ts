import type { PipelineInput, RunStatus } from '../src/pipeline/contracts.js';
import { describeBackend, selectedBackend } from '../src/tensor/backend.js';
import { environmentFacts } from '../src/util/environment.js';
import type { ActivityDeps } from './deps.js';

export function runManifestActivities({ store }: ActivityDeps) {
  return {
    /**
     * Writes the run manifest: config, stage keys and timings, code and machine facts. Written at
     * the start and the end of a run and as stages start and finish, so `lcrec status` can answer
     * from it alone, even for a run whose server and worker died.
     */
    async recordRun(input: PipelineInput, status: RunStatus): Promise<void> {
      await store.putRunManifest({
        schema: 'lcrec.run/1',
        ...status,
        seed: input.config.seed,
        config: input.config,
        codeVersion: input.codeVersion,
        artifactStore: store.location,
        // The backend this worker process chose, once a tensor stage has run in it.
        environment: await environmentFacts(await selectedBackendName()),
      });
    },
  };
}

async function selectedBackendName(): Promise<string | null> {
  const info = await selectedBackend();
  return info ? describeBackend(info) : null;
}
