import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { trainSasrec, type SasrecSettings } from '../../src/baselines/sasrec/train.js';
import { evaluateSplit } from '../../src/eval/evaluate.js';
import { initTensorEngine } from '../../src/tensor/init.js';
import { Rng } from '../../src/tensor/rng.js';

const RING = 40;
const settings: SasrecSettings = {
  hidden: 16, blocks: 1, heads: 2, maxLength: 8, dropout: 0, learningRate: 0.01, batchSize: 16, maxEpochs: 25, patience: 25,
};

/** 120 users walking a ring of 40 items from random starts: the next item is always last + 1. */
function ringSequences(seed: number): Int32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: 120 }, () => {
    const start = rng.int(RING);
    const length = 5 + rng.int(6);
    return Int32Array.from({ length }, (_, t) => (start + t) % RING);
  });
}

before(async () => {
  await initTensorEngine({ log: () => undefined });
});

test('SASRec learns a sequential pattern that popularity cannot: next item on a ring', async () => {
  const sequences = ringSequences(1);
  const result = await trainSasrec(sequences, RING, settings, 7);
  const metrics = evaluateSplit(result.recommender, sequences, 'test', 10).metrics;
  assert.ok(metrics['recall@1'] > 0.9, `test Recall@1 ${metrics['recall@1']}`);
  assert.ok(result.bestEpoch >= 1 && result.bestEpoch <= settings.maxEpochs);
  assert.equal(result.epochs.length >= result.bestEpoch, true);
  assert.ok(result.epochs.at(-1)!.loss < result.epochs[0]!.loss, 'the training loss goes down');
});

test('SASRec training is reproducible for a seed and early stopping keeps the best validation epoch', async () => {
  const sequences = ringSequences(2);
  const short = { ...settings, maxEpochs: 6, patience: 2 };
  const a = await trainSasrec(sequences, RING, short, 11);
  const b = await trainSasrec(sequences, RING, short, 11);
  assert.deepEqual(a.epochs.map((e) => e.loss), b.epochs.map((e) => e.loss));
  const best = Math.max(...a.epochs.map((e) => e.validRecall10));
  assert.equal(a.epochs[a.bestEpoch - 1]!.validRecall10, best, 'the kept epoch has the best validation Recall@10');
  const valid = evaluateSplit(a.recommender, sequences, 'valid', 10).metrics['recall@10'];
  assert.equal(valid, best, 'the returned model is the best epoch, not the last');
});
