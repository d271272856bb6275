import { ApplicationFailure, Context } from '@temporalio/activity';
import { BadInputError } from '../src/errors.js';
import type { StageHeartbeat, StageOutput, StagePlan } from '../src/pipeline/contracts.js';
import type { ArtifactStore } from '../src/store/artifactStore.js';
import { stageKey } from '../src/store/keys.js';

/** Computes a stage's key and looks for its manifest: a published key means the stage is skipped. */
export async function planStage(
  store: ArtifactStore,
  plan: Omit<StagePlan, 'key' | 'cached'>,
): Promise<StagePlan> {
  const key = stageKey({ stage: plan.stage, codeVersion: plan.codeVersion, config: plan.config, inputs: plan.inputs });
  const manifest = await store.getManifest(plan.stage, key);
  const cached: StageOutput | undefined = manifest && {
    stage: plan.stage,
    key,
    attempt: manifest.attempt,
    files: manifest.files,
    summary: manifest.summary,
  };
  return { ...plan, key, ...(cached ? { cached } : {}) };
}

export interface StageWork {
  /** Directory to write the stage's files into. */
  dir: string;
  signal: AbortSignal;
  progress: (p: StageHeartbeat) => void;
}

/**
 * Runs one attempt of a stage: writes into an attempt-scoped workspace, publishes by writing the
 * manifest last, drops the workspace on failure. Bad input becomes a non-retryable failure.
 */
export async function runStage(
  store: ArtifactStore,
  plan: StagePlan,
  work: (w: StageWork) => Promise<Record<string, unknown>>,
): Promise<StageOutput> {
  const ctx = Context.current();
  const attemptId = `${ctx.info.workflowExecution?.runId ?? ctx.info.activityId}-a${ctx.info.attempt}`;
  const attempt = await store.beginAttempt(plan.stage, plan.key, attemptId);
  const started = Date.now();
  const progress = throttled((p: StageHeartbeat) => ctx.heartbeat(p), 1000);
  progress({ phase: 'starting', done: 0 });
  try {
    const summary = await work({ dir: attempt.dir, signal: ctx.cancellationSignal, progress });
    const durationMs = Date.now() - started;
    const { manifest } = await store.publish(
      attempt,
      {
        summary: { ...summary, durationMs },
        keyInputs: { stage: plan.stage, codeVersion: plan.codeVersion, config: plan.config, inputs: plan.inputs },
      },
      { replace: plan.force === true },
    );
    return { stage: plan.stage, key: plan.key, attempt: manifest.attempt, files: manifest.files, summary: manifest.summary, durationMs };
  } catch (err) {
    await store.abandon(attempt);
    throw asTemporalFailure(err);
  }
}

/** A local directory holding an upstream stage's published files. */
export async function inputDir(store: ArtifactStore, output: StageOutput): Promise<string> {
  const manifest = await store.getManifest(output.stage, output.key);
  if (!manifest) throw new Error(`input artifact ${output.stage}/${output.key} has no manifest in ${store.location}`);
  return store.localDir(manifest);
}

/** Bad input cannot be fixed by retrying: fail at once, with the reason. */
export function asTemporalFailure(err: unknown): unknown {
  if (err instanceof BadInputError) {
    return ApplicationFailure.create({ message: err.message, type: 'BadInputError', nonRetryable: true, cause: err });
  }
  return err;
}

function throttled<T>(fn: (value: T) => void, intervalMs: number): (value: T) => void {
  let last = 0;
  return (value) => {
    const now = Date.now();
    if (now - last >= intervalMs) {
      last = now;
      fn(value);
    }
  };
}
