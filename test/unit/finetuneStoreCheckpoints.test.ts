import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FinetuneSettingsSchema } from '../../src/finetune/settings.js';
import { ArtifactCheckpointStore, CHECKPOINT_STAGE, checkpointKey } from '../../src/finetune/storeCheckpoints.js';
import { finetune } from '../../src/finetune/trainer.js';
import type { FinetuneData } from '../../src/finetune/trainer.js';
import { LocalArtifactStore } from '../../src/store/localStore.js';
import { selectBackend } from '../../src/tensor/backend.js';
import { FakeCausalLM } from './finetuneFakeModel.js';

let root: string;
before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
  root = await mkdtemp(join(tmpdir(), 'lcrec-ft-store-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const data: FinetuneData = {
  units: 30,
  render: (u, epoch) => ({ promptIds: Int32Array.from([1 + ((u + epoch) % 3), 10 + (u % 10)]), responseIds: Int32Array.from([30 + (u % 10)]) }),
  eosId: 0,
};
const settings = FinetuneSettingsSchema.parse({
  learningRate: 0.05, epochs: 2, batchSize: 4, gradAccumulation: 2, maxLength: 8, checkpointEvery: 2,
  validation: { lossSamples: 0, recallUsers: 0 },
});
const STAGE_KEY = 'finetune-0123456789abcdef0123456789abcdef';

test('checkpoints in the artifact store: attempt 2 finds attempt 1\'s newest (even with a stale hint) and ends bit-for-bit equal; a finished run resumes as done', async () => {
  const straight = new FakeCausalLM(48, 8, 1);
  await finetune(straight, data, settings, { seed: 4 });
  const expected = [...straight.weights.values()].map((v) => v.dataSync().slice());

  const store = new LocalArtifactStore(join(root, 'artifacts'));
  const controller = new AbortController();
  const refs: string[] = [];
  const first = new FakeCausalLM(48, 8, 1);
  await assert.rejects(
    finetune(first, data, settings, {
      seed: 4,
      signal: controller.signal,
      checkpoints: new ArtifactCheckpointStore({ store, stageKey: STAGE_KEY, attempt: 'run1-a1' }),
      onCheckpoint: (ref, step) => {
        refs.push(ref);
        if (step === 4) controller.abort(new Error('worker lost'));
      },
    }),
    /worker lost/,
  );
  assert.deepEqual(refs, [checkpointKey(STAGE_KEY, 2), checkpointKey(STAGE_KEY, 4)]);
  const manifest = await store.getManifest(CHECKPOINT_STAGE, refs[1]!);
  assert.equal(manifest?.attempt, 'run1-a1');
  assert.deepEqual(manifest?.files.map((f) => f.name), ['training.json', 'training.safetensors']);

  // A stale hint (step 2) still finds step 4; then, with no hint, the probe finds the final checkpoint (step 8): nothing left to do.
  for (const [hint, from] of [[refs[0], 4], [undefined, 8]] as const) {
    const resumed = new FakeCausalLM(48, 8, 1);
    const result = await finetune(resumed, data, settings, { seed: 4, checkpoints: new ArtifactCheckpointStore({ store, stageKey: STAGE_KEY, attempt: `run1-a${from}`, hint }) });
    assert.equal(result.log.resumedFromStep, from, `hint ${hint}`);
    assert.equal(result.log.steps.length, 8);
    [...resumed.weights.values()].forEach((v, i) => assert.deepEqual(v.dataSync(), expected[i]));
    resumed.dispose();
  }
  straight.dispose();
  first.dispose();
});

test('a store that can delete keys keeps only the newest checkpoints', async () => {
  const dir = join(root, 'pruned');
  const store = Object.assign(new LocalArtifactStore(dir), {
    deleteKey: (stage: string, key: string) => rm(join(dir, stage, key), { recursive: true, force: true }),
  });
  const model = new FakeCausalLM(48, 8, 1);
  await finetune(model, data, settings, { seed: 4, checkpoints: new ArtifactCheckpointStore({ store, stageKey: STAGE_KEY, attempt: 'run2-a1', keep: 2 }) });
  const kept: number[] = [];
  for (const step of [2, 4, 6, 8]) if (await store.getManifest(CHECKPOINT_STAGE, checkpointKey(STAGE_KEY, step))) kept.push(step);
  assert.deepEqual(kept, [6, 8]);
  model.dispose();
});
