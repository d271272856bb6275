import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { createWorkers, quietRuntime, runWorkersUntil } from '../../infra/worker.js';
import { ensureTemporalBinary } from '../../infra/temporalBinary.js';
import type { ActivityDeps } from '../../activities/index.js';
import type { ArtifactStore } from '../../src/store/artifactStore.js';
import { LocalArtifactStore } from '../../src/store/localStore.js';

/**
 * A real Temporal dev server (the CLI built from its Go module, started by @temporalio/testing
 * as an existing-path executable) and a temporary data directory.
 */
export interface TemporalFixture<S extends ArtifactStore = LocalArtifactStore> {
  env: TestWorkflowEnvironment;
  home: string;
  store: S;
  /** Runs in-process workers (both queues) until `until` settles. */
  serve<T>(until: Promise<T>, deps?: Partial<ActivityDeps>): Promise<T>;
  close(): Promise<void>;
}

/** `opts.store` opens another store (e.g. S3) given the temporary data directory; default: local under it. */
export async function startTemporalFixture(): Promise<TemporalFixture>;
export async function startTemporalFixture<S extends ArtifactStore>(opts: { store: (home: string) => S }): Promise<TemporalFixture<S>>;
export async function startTemporalFixture(opts: { store?: (home: string) => ArtifactStore } = {}): Promise<TemporalFixture<ArtifactStore>> {
  quietRuntime();
  const path = await ensureTemporalBinary();
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path }, extraArgs: ['--log-level', 'warn'] },
  });
  const home = await mkdtemp(join(tmpdir(), 'lcrec-it-'));
  const store = opts.store ? opts.store(home) : new LocalArtifactStore(join(home, 'artifacts'));
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
