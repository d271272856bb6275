import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { createWorkers, quietRuntime, runWorkersUntil } from '../../infra/worker.js';
import { ensureTemporalBinary } from '../../infra/temporalBinary.js';
import type { ActivityDeps } from '../../activities/index.js';
import { LocalArtifactStore } from '../../src/store/localStore.js';

/**
 * A real Temporal dev server (the CLI built from its Go module, started by @temporalio/testing
 * as an existing-path executable) and a temporary data directory.
 */
export interface TemporalFixture {
  env: TestWorkflowEnvironment;
  home: string;
  store: LocalArtifactStore;
  /** Runs in-process workers (both queues) until `until` settles. */
  serve<T>(until: Promise<T>, deps?: Partial<ActivityDeps>): Promise<T>;
  close(): Promise<void>;
}

export async function startTemporalFixture(): Promise<TemporalFixture> {
  quietRuntime();
  const path = await ensureTemporalBinary();
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path }, extraArgs: ['--log-level', 'warn'] },
  });
  const home = await mkdtemp(join(tmpdir(), 'lcrec-it-'));
  const store = new LocalArtifactStore(join(home, 'artifacts'));
  return {
    env,
    home,
    store,
    async serve(until, deps) {
      const workers = await createWorkers({
        connection: env.nativeConnection,
        queues: ['cpu', 'gpu'],
        deps: { store, home, ...deps },
      });
      return runWorkersUntil(workers, until);
    },
    async close() {
      await env.teardown();
      await rm(home, { recursive: true, force: true });
    },
  };
}
