/**
 * Fine-tuning checkpoints in the artifact store, so a retried activity on another machine resumes
 * where the last one stopped. Each checkpoint is an artifact of its own: stage
 * `finetune-checkpoint`, key `<finetune stage key>-step<step>`, its two files under the attempt
 * that wrote it (`.../attempts/<attempt>/`), complete once its manifest is published (the store's
 * atomic publish: a conditional put on S3, a hard link locally). A checkpoint of the same step
 * from two attempts is the same state (training is deterministic), so losing that race is fine.
 *
 * Finding the newest: the key heartbeated by the previous attempt when there is one, else the
 * run's possible checkpoint steps probed newest first (the store cannot list keys).
 * Published checkpoints are not removed by `store sweep` (they are published). When the store
 * can delete a key (an optional `deleteKey(stage, key)`, which ArtifactStore does not have yet),
 * only the newest `keep` checkpoints this process wrote or resumed from are kept; otherwise they
 * accumulate, so checkpointEvery should be sized to the model (a full 1.5B checkpoint with its
 * moments and the best epoch's weights is ~24 GB).
 */
import type { ArtifactStore } from '../store/artifactStore.js';
import { readStateFiles, writeStateFiles } from './checkpoints.js';
import type { CheckpointStore, FinetuneState } from './checkpoints.js';

export const CHECKPOINT_STAGE = 'finetune-checkpoint';

export function checkpointKey(stageKey: string, step: number): string {
  return `${stageKey}-step${String(step).padStart(8, '0')}`;
}

export interface ArtifactCheckpointOptions {
  store: ArtifactStore;
  /** The fine-tuning stage's key: checkpoints are keyed under it. */
  stageKey: string;
  /** The attempt writing checkpoints (a safe path segment). */
  attempt: string;
  /** A checkpoint key from the previous attempt's last heartbeat, tried first. */
  hint?: string;
  /** Checkpoints kept when the store can delete keys (default 2). */
  keep?: number;
}

/** A store that can remove a published key (manifest first, then its objects). */
interface DeletingStore {
  deleteKey(stage: string, key: string): Promise<void>;
}

function canDelete(store: ArtifactStore): store is ArtifactStore & DeletingStore {
  return typeof (store as Partial<DeletingStore>).deleteKey === 'function';
}

export class ArtifactCheckpointStore implements CheckpointStore {
  /** Keys of this run's checkpoints known to exist, oldest first (pruning candidates). */
  private readonly known: string[] = [];

  constructor(private readonly opts: ArtifactCheckpointOptions) {}

  async save(state: FinetuneState): Promise<string> {
    const key = checkpointKey(this.opts.stageKey, state.meta.step);
    const attempt = await this.opts.store.beginAttempt(CHECKPOINT_STAGE, key, this.opts.attempt);
    try {
      await writeStateFiles(attempt.dir, state);
      await this.opts.store.publish(attempt, { summary: { step: state.meta.step, epoch: state.meta.epoch }, keyInputs: { stage: this.opts.stageKey, step: state.meta.step } });
    } catch (error) {
      await this.opts.store.abandon(attempt);
      throw error;
    }
    this.known.push(key);
    await this.prune();
    return key;
  }

  private async prune(): Promise<void> {
    const { store } = this.opts;
    if (!canDelete(store)) return;
    while (this.known.length > (this.opts.keep ?? 2)) await store.deleteKey(CHECKPOINT_STAGE, this.known.shift()!);
  }

  async loadNewest(candidateSteps: readonly number[] = []): Promise<FinetuneState | undefined> {
    // A hint (the previous attempt's last heartbeated key) bounds the probing: only steps after it
    // are tried before it, since a throttled heartbeat may have missed the very last checkpoint.
    const prefix = `${this.opts.stageKey}-step`;
    const hinted = this.opts.hint?.startsWith(prefix) ? Number(this.opts.hint.slice(prefix.length)) : NaN;
    const steps = Number.isInteger(hinted) ? [...candidateSteps.filter((s) => s > hinted), hinted, ...candidateSteps.filter((s) => s < hinted)] : candidateSteps;
    const keys = steps.map((step) => checkpointKey(this.opts.stageKey, step));
    for (const key of keys) {
      const manifest = await this.opts.store.getManifest(CHECKPOINT_STAGE, key);
      if (!manifest) continue;
      const state = await readStateFiles(await this.opts.store.localDir(manifest));
      if (state) {
        this.known.push(key);
        return state;
      }
    }
    return undefined;
  }
}
