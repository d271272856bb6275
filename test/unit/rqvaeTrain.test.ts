import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { BadInputError } from '../../src/errors.js';
import { readCheckpointDir, writeCheckpointDir } from '../../src/rqvae/checkpointFiles.js';
import { encodeCodes, lastLevelDistances } from '../../src/rqvae/codes.js';
import { GENREC_RQVAE } from '../../src/rqvae/settings.js';
import type { RqvaeSettings } from '../../src/rqvae/settings.js';
import { trainRqvae } from '../../src/rqvae/train.js';
import type { RqvaeTrainingState } from '../../src/rqvae/trainState.js';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { squaredDistances } from '../../src/tensor/ops.js';
import { writeSafetensors } from '../../src/tensor/safetensors.js';
import { Rng } from '../../src/tensor/rng.js';

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
});

const DIM = 32;
const BLOBS = 64;

/** 2,000 unit-norm points in 32 dims around 64 unit-norm centres (like sentence embeddings of 64 topics). */
function blobData(rows: number, seed: number): { x: Float32Array; blob: Int32Array } {
  const rng = new Rng(seed);
  const centres = rng.fillNormal(new Float32Array(BLOBS * DIM));
  const x = new Float32Array(rows * DIM);
  const blob = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const c = rng.int(BLOBS);
    blob[i] = c;
    let norm = 0;
    let cn = 0;
    for (let j = 0; j < DIM; j++) cn += centres[c * DIM + j]! ** 2;
    for (let j = 0; j < DIM; j++) {
      const v = centres[c * DIM + j]! / Math.sqrt(cn) + 0.05 * rng.normal();
      x[i * DIM + j] = v;
      norm += v * v;
    }
    for (let j = 0; j < DIM; j++) x[i * DIM + j] = x[i * DIM + j]! / Math.sqrt(norm);
  }
  return { x, blob };
}

const SETTINGS: RqvaeSettings = {
  ...GENREC_RQVAE,
  hiddenWidths: [64],
  latentDim: 16,
  levels: 3,
  codebookSize: 64,
  kmeansSamples: 2000,
  kmeansIterations: 20,
  sinkhornIterations: 50,
  warmupEpochs: 1,
  epochs: 12,
  batchSize: 256,
  evalEvery: 3,
  inferenceBatchSize: 1024,
};

test('training lowers the loss on clustered data and the codes separate the blobs', async () => {
  const { x, blob } = blobData(2000, 1);
  const result = await trainRqvae(x, 2000, DIM, { ...SETTINGS, evalEvery: 1 }, { seed: 7 });
  try {
    const evals = result.evaluations;
    assert.equal(evals.length, SETTINGS.epochs);
    assert.ok(evals.at(-1)!.reconLoss < 0.7 * evals[0]!.reconLoss, `recon ${evals[0]!.reconLoss} -> ${evals.at(-1)!.reconLoss}`);
    assert.equal(result.steps, SETTINGS.epochs * 8);
    assert.ok(result.codebookInit !== null && result.codebookInit.samples === 2000);

    const codes = encodeCodes(result.model, x);
    assert.equal(codes.length, 2000 * SETTINGS.levels);
    // Level 0 separates the blobs: each blob's points share one code, and blobs get their own codes.
    const byBlob = Array.from({ length: BLOBS }, () => new Map<number, number>());
    for (let i = 0; i < 2000; i++) {
      const m = byBlob[blob[i]!]!;
      m.set(codes[i * SETTINGS.levels]!, (m.get(codes[i * SETTINGS.levels]!) ?? 0) + 1);
    }
    let agreeing = 0;
    const majorities = new Set<number>();
    for (const m of byBlob) {
      const [code, count] = [...m].sort((a, b) => b[1] - a[1])[0]!;
      agreeing += count;
      majorities.add(code);
    }
    assert.ok(agreeing / 2000 >= 0.9, `level-0 purity ${agreeing / 2000}`);
    assert.ok(majorities.size >= 0.75 * BLOBS, `${majorities.size} distinct level-0 codes for ${BLOBS} blobs`);
    // The deeper levels tell most items of a blob apart; the balanced last level uses every code.
    assert.ok(result.selected.distinctTuples >= 0.7 * 2000, `${result.selected.distinctTuples} distinct tuples`);
    assert.equal(result.selected.usage[SETTINGS.levels - 1], 1);
    // Only the second half of training competes in the selection (selectFromFraction 0.5).
    assert.ok(result.selected.epoch >= SETTINGS.epochs / 2, `selected epoch ${result.selected.epoch}`);
  } finally {
    result.model.dispose();
  }
});

test('lastLevelDistances are the distances of the argmin prefix residual to the last codebook', async () => {
  const { x } = blobData(300, 2);
  const settings = { ...SETTINGS, codebookSize: 16, epochs: 1, kmeansSamples: 300 };
  const result = await trainRqvae(x, 300, DIM, settings, { seed: 3 });
  try {
    const model = result.model;
    const items = Int32Array.from([5, 0, 299, 17]);
    const got = lastLevelDistances(model, x, items, { batchSize: 3 });
    const codes = encodeCodes(model, x, { batchSize: 64 });
    tf.tidy(() => {
      let r = model.encode(tf.tensor2d(Float32Array.from([...items].flatMap((i) => [...x.subarray(i * DIM, (i + 1) * DIM)])), [items.length, DIM]));
      for (let l = 0; l < settings.levels - 1; l++) {
        const rows = [...items].map((i) => codes[i * settings.levels + l]!);
        r = tf.sub(r, tf.gather(model.codebooks[l]!, tf.tensor1d(rows, 'int32')));
      }
      const want = squaredDistances(r, model.codebooks[settings.levels - 1]!).dataSync();
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-6, `${i}: ${got[i]} vs ${want[i]}`);
      // and the last code is the argmin of that row
      items.forEach((item, b) => {
        const row = got.subarray(b * 16, (b + 1) * 16);
        assert.equal(codes[item * settings.levels + settings.levels - 1], row.indexOf(Math.min(...row)));
      });
    });
  } finally {
    result.model.dispose();
  }
});

/** Runs training with checkpoints in `dir`; aborts right after the save at `stopAfterStep`, if given. */
async function run(x: Float32Array, rows: number, seed: number, dir: string, stopAfterStep?: number): Promise<{ saves: RqvaeTrainingState[]; aborted: boolean }> {
  const saves: RqvaeTrainingState[] = [];
  const controller = new AbortController();
  try {
    const result = await trainRqvae(x, rows, DIM, { ...SETTINGS, epochs: 4 }, {
      seed,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.done === stopAfterStep) controller.abort();
      },
      checkpoint: {
        every: 12,
        save: async (state) => {
          saves.push(state);
          await writeCheckpointDir(dir, state);
        },
        load: () => readCheckpointDir(dir),
      },
    });
    result.model.dispose();
    return { saves, aborted: false };
  } catch (error) {
    if (!controller.signal.aborted) throw error;
    return { saves, aborted: true };
  }
}

function assertSameState(a: RqvaeTrainingState, b: RqvaeTrainingState, what: string): void {
  assert.deepEqual(Object.keys(b.tensors).sort(), Object.keys(a.tensors).sort(), what);
  for (const name of Object.keys(a.tensors)) {
    const x = Buffer.from(a.tensors[name]!.data.buffer, a.tensors[name]!.data.byteOffset, a.tensors[name]!.data.byteLength);
    const y = Buffer.from(b.tensors[name]!.data.buffer, b.tensors[name]!.data.byteOffset, b.tensors[name]!.data.byteLength);
    assert.ok(x.equals(y), `${what}: tensor ${name} differs`);
  }
  assert.deepEqual(b.meta, a.meta, what);
}

test('a run stopped after a checkpoint and resumed ends bit-for-bit where a straight run ends; same seed, same weights', async () => {
  const { x } = blobData(2000, 3);
  const dirs = await Promise.all([0, 1, 2, 3, 4].map(() => mkdtemp(join(tmpdir(), 'rqvae-ckpt-'))));
  try {
    const straight = await run(x, 2000, 11, dirs[0]!);
    assert.equal(straight.aborted, false);
    assert.deepEqual(straight.saves.map((s) => s.meta.step), [12, 24, 32]);
    const final = straight.saves.at(-1)!;
    assert.equal(final.meta.epoch, 4);
    assert.equal(final.meta.evaluations.length, 2); // epochs 3 and 4 (the last)
    assert.ok(Object.keys(final.tensors).some((n) => n.startsWith('best.')));

    // mid-epoch (step 12 = epoch 2, batch 4 of 8) and at an epoch boundary (step 24 = end of epoch 3)
    for (const [stop, dir] of [[12, dirs[1]!], [24, dirs[2]!]] as const) {
      const first = await run(x, 2000, 11, dir, stop);
      assert.equal(first.aborted, true);
      assert.equal((await readCheckpointDir(dir))!.meta.step, stop);
      const resumed = await run(x, 2000, 11, dir);
      assert.equal(resumed.aborted, false);
      assert.equal(resumed.saves[0]!.meta.step, stop === 12 ? 24 : 32);
      assertSameState(resumed.saves.at(-1)!, final, `resumed after step ${stop}`);
    }

    const again = await run(x, 2000, 11, dirs[3]!);
    assertSameState(again.saves.at(-1)!, final, 'same seed');
    const other = await run(x, 2000, 12, dirs[4]!);
    assert.ok(!Buffer.from(other.saves.at(-1)!.tensors['model.encoder.0.weight']!.data.buffer).equals(Buffer.from(final.tensors['model.encoder.0.weight']!.data.buffer)));

    // a checkpoint of other settings cannot resume this run
    await assert.rejects(
      trainRqvae(x, 2000, DIM, { ...SETTINGS, epochs: 5 }, { seed: 11, checkpoint: { every: 12, save: async () => {}, load: () => readCheckpointDir(dirs[0]!) } }),
      /other settings/,
    );

    // a finished checkpoint resumes to the same result without training again
    const done = await trainRqvae(x, 2000, DIM, { ...SETTINGS, epochs: 4 }, { seed: 11, checkpoint: { every: 12, save: async () => assert.fail('nothing to save'), load: () => readCheckpointDir(dirs[0]!) } });
    try {
      assert.equal(done.resumedFromStep, 32);
      assert.deepEqual(done.selected, final.meta.best);
    } finally {
      done.model.dispose();
    }
  } finally {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
});

test('a cancelled run leaves a checkpoint at the step it stopped, and resuming from it ends where a straight run ends', async () => {
  const { x } = blobData(2000, 3);
  const dirs = await Promise.all([0, 1].map(() => mkdtemp(join(tmpdir(), 'rqvae-cancel-'))));
  try {
    const straight = await run(x, 2000, 11, dirs[0]!);
    // step 15 is between two periodic checkpoints (every 12)
    const cancelled = await run(x, 2000, 11, dirs[1]!, 15);
    assert.equal(cancelled.aborted, true);
    assert.deepEqual(cancelled.saves.map((s) => s.meta.step), [12, 15]);
    const resumed = await run(x, 2000, 11, dirs[1]!);
    assert.equal(resumed.saves[0]!.meta.step, 24);
    assertSameState(resumed.saves.at(-1)!, straight.saves.at(-1)!, 'resumed after a cancel at step 15');
  } finally {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
});

test('a checkpoint directory caught between its two writes reads as no checkpoint', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rqvae-half-'));
  try {
    assert.equal(await readCheckpointDir(dir), undefined);
    const meta = { format: 'lcrec-rqvae-training/1', step: 7 } as unknown as RqvaeTrainingState['meta'];
    const tensors = { 'model.w': { shape: [2], data: Float32Array.from([1, 2]) } };
    await writeCheckpointDir(dir, { meta, tensors });
    const back = await readCheckpointDir(dir);
    assert.equal(back?.meta.step, 7);
    assert.deepEqual(back?.tensors['model.w']?.data, Float32Array.from([1, 2]));
    // the tensors of step 8 written, the JSON of step 8 not yet
    await writeSafetensors(join(dir, 'training.safetensors'), tensors, { format: 'lcrec-rqvae-training/1', step: '8' });
    assert.equal(await readCheckpointDir(dir), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bad input is refused with a clear error before training', async () => {
  const { x } = blobData(100, 4);
  const nan = x.slice();
  nan[5 * DIM + 3] = NaN;
  await assert.rejects(trainRqvae(nan, 100, DIM, SETTINGS, { seed: 1 }), (e: unknown) => e instanceof BadInputError && /row 5, column 3 is NaN/.test(e.message));
  await assert.rejects(trainRqvae(x, 100, DIM + 1, SETTINGS, { seed: 1 }), BadInputError);
  // 64 codes cannot be initialised from 40 items
  await assert.rejects(trainRqvae(x.subarray(0, 40 * DIM), 40, DIM, SETTINGS, { seed: 1 }), (e: unknown) => e instanceof BadInputError && /codebookSize/.test(e.message));
  await assert.rejects(trainRqvae(x, 100, DIM, { ...SETTINGS, epochs: 0 }, { seed: 1 }), /rqvae\.epochs/);
});
