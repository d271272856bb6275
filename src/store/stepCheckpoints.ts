/**
 * Training checkpoints in the artifact store, so a retried activity on another machine resumes
 * where the last one stopped. Each checkpoint is an artifact of its own: stage `<stage>`, key
 * `<training stage key>-step<step>`, its files under the attempt that wrote it, complete once its
 * manifest is published (the store's atomic publish). A checkpoint of one step written by two
 * attempts is the same state (training is deterministic), so losing that race is fine.
 *
 * Finding the newest: the key heartbeated by the previous attempt when there is one, else the
 * run's possible checkpoint steps probed newest first (the store cannot list keys). The training
 * stage key changes with any input, so checkpoints never mix with another run's.
 */
import type { ArtifactStore } from './artifactStore.js';

export interface CheckpointCodec<S> {
  write(dir: string, state: S): Promise<void>;
  /** The state in `dir`, or undefined when the files are not a complete checkpoint. */
  read(dir: string): Promise<S | undefined>;
  step(state: S): number;
  /** Small facts for the checkpoint's manifest summary. */
  summary?(state: S): Record<string, unknown>;
}

export interface StepCheckpointOptions<S> {
  store: ArtifactStore;
  /** The artifact stage name of the checkpoints, e.g. `rqvae-checkpoint`. */
  stage: string;
  /** The training stage's key: checkpoints are keyed under it. */
  stageKey: string;
  /** The attempt writing checkpoints (a safe path segment). */
  attempt: string;
  /** A checkpoint key from the previous attempt's last heartbeat, tried first. */
  hint?: string;
  codec: CheckpointCodec<S>;
  /** Newest checkpoints kept; older ones this writer knows of are deleted (default 2). */
  keep?: number;
}

export function stepCheckpointKey(stageKey: string, step: number): string {
  return `${stageKey}-step${String(step).padStart(8, '0')}`;
}

export class StoreStepCheckpoints<S> {
  /** Keys of this run's checkpoints known to exist, oldest first (pruning candidates). */
  private readonly known: string[] = [];

  constructor(private readonly opts: StepCheckpointOptions<S>) {}

  /** Publishes `state`; returns its key (what an attempt heartbeats as the resume hint). */
  async save(state: S): Promise<string> {
    const { store, stage, stageKey, attempt: attemptId, codec } = this.opts;
    const step = codec.step(state);
    const key = stepCheckpointKey(stageKey, step);
    const attempt = await store.beginAttempt(stage, key, attemptId);
    try {
      await codec.write(attempt.dir, state);
      await store.publish(attempt, { summary: { step, ...codec.summary?.(state) }, keyInputs: { stage: stageKey, step } });
    } catch (error) {
      await store.abandon(attempt);
      throw error;
    }
    this.known.push(key);
    // Only after the new one is published: a crash in between leaves one checkpoint too many, never none.
    while (this.known.length > (this.opts.keep ?? 2)) await store.deleteKey(stage, this.known.shift()!);
    return key;
  }

  /** The newest published checkpoint among the hint and `candidateSteps` (any order). */
  async loadNewest(candidateSteps: readonly number[] = []): Promise<S | undefined> {
    const { store, stage, stageKey, hint, codec } = this.opts;
    // A hint bounds the probing: only steps after it are tried before it, since a throttled
    // heartbeat may have missed the very last checkpoint.
    const prefix = `${stageKey}-step`;
    const hinted = hint?.startsWith(prefix) ? Number(hint.slice(prefix.length)) : NaN;
    const newestFirst = [...new Set(candidateSteps)].sort((a, b) => b - a);
    const steps = Number.isInteger(hinted) ? [...newestFirst.filter((s) => s > hinted), hinted, ...newestFirst.filter((s) => s < hinted)] : newestFirst;
    for (const step of steps) {
      const manifest = await store.getManifest(stage, stepCheckpointKey(stageKey, step));
      if (!manifest) continue;
      const state = await codec.read(await store.localDir(manifest));
      if (state) {
        this.known.push(stepCheckpointKey(stageKey, step));
        return state;
      }
    }
    return undefined;
  }
}
