/**
 * Fine-tuning checkpoints in the artifact store, so a retried activity on another machine resumes
 * where the last one stopped. Each checkpoint is an artifact of its own: stage
 * `finetune-checkpoint`, key `<finetune stage key>-step<step>`, its two files under the attempt
 * that wrote it (`.../attempts/<attempt>/`), complete once its manifest is published (the store's
 * atomic publish: a conditional put on S3, a hard link locally). A checkpoint of the same step
 * from two attempts is the same state (training is deterministic), so losing that race is fine.
 *
 * Finding the newest: the key heartbeated by the previous attempt when there is one, else the
 * run's possible checkpoint steps probed newest first (the store cannot list keys). Only the
 * newest `keep` checkpoints this process wrote or resumed from are kept (older keys are deleted
 * from the store); a full 1.5B checkpoint with its moments and the best epoch's weights is ~24 GB.
 */
import type { ArtifactStore } from '../store/artifactStore.js';
import { StoreStepCheckpoints, stepCheckpointKey } from '../store/stepCheckpoints.js';
import { readStateFiles, writeStateFiles } from './checkpoints.js';
import type { CheckpointStore, FinetuneState } from './checkpoints.js';

export const CHECKPOINT_STAGE = 'finetune-checkpoint';

export const checkpointKey = stepCheckpointKey;

export interface ArtifactCheckpointOptions {
  store: ArtifactStore;
  /** The fine-tuning stage's key: checkpoints are keyed under it. */
  stageKey: string;
  /** The attempt writing checkpoints (a safe path segment). */
  attempt: string;
  /** A checkpoint key from the previous attempt's last heartbeat, tried first. */
  hint?: string;
  /** Checkpoints kept (default 2). */
  keep?: number;
}

/** Fine-tuning state through the store's step checkpoints (src/store/stepCheckpoints.ts). */
export class ArtifactCheckpointStore implements CheckpointStore {
  private readonly inner: StoreStepCheckpoints<FinetuneState>;

  constructor(opts: ArtifactCheckpointOptions) {
    this.inner = new StoreStepCheckpoints({
      ...opts,
      stage: CHECKPOINT_STAGE,
      codec: {
        write: writeStateFiles,
        read: readStateFiles,
        step: (state) => state.meta.step,
        summary: (state) => ({ epoch: state.meta.epoch }),
      },
    });
  }

  save(state: FinetuneState): Promise<string> {
    return this.inner.save(state);
  }

  loadNewest(candidateSteps: readonly number[] = []): Promise<FinetuneState | undefined> {
    return this.inner.loadNewest(candidateSteps);
  }
}
