/**
 * The worker's activities outside Temporal: a local artifact store and data directory in a temp
 * dir, each activity run in a MockActivityEnvironment (heartbeats and cancellation are mocked; the
 * code path is the worker's). For tests that drive stages one by one and look at the store.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities, type Activities } from '../../activities/index.js';
import type { StageOutput, StagePlan } from '../../src/pipeline/contracts.js';
import { LocalArtifactStore } from '../../src/store/localStore.js';

export interface StageHarness {
  root: string;
  store: LocalArtifactStore;
  /** The worker's data directory (generated samples, resumable chunk files). */
  home: string;
  acts: Activities;
  /** Runs one activity in a mock activity context, keeping its types. */
  run<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R>;
  /** Plans a stage and runs it unless its key is already published, as the workflow does. */
  stage(plan: Promise<StagePlan>, run: (plan: StagePlan) => Promise<StageOutput>): Promise<StageOutput>;
  /** Every file under the store, relative to it, sorted: manifests and published files alike. */
  storeFiles(): Promise<string[]>;
  close(): Promise<void>;
}

export async function createStageHarness(prefix: string): Promise<StageHarness> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const store = new LocalArtifactStore(join(root, 'artifacts'));
  const home = join(root, 'home');
  const acts = createActivities({ store, home });
  // Failures are what these tests look at: the worker's warning for each would only be noise.
  const logger = new DefaultLogger('ERROR');
  const run = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> =>
    new MockActivityEnvironment(undefined, { logger }).run(fn as never, ...(args as unknown as never[])) as Promise<R>;
  return {
    root,
    store,
    home,
    acts,
    run,
    async stage(plan, runPlan) {
      const planned = await plan;
      return planned.cached ?? run(runPlan, planned);
    },
    storeFiles: () => filesUnder(store.root),
    close: () => rm(root, { recursive: true, force: true }),
  };
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}
