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
  const short = { ...settings, maxEpochs: 10, patience: 10 };
  const result = await trainSasrec(sequences, RING, short, 7);
  const metrics = evaluateSplit(result.recommender, sequences, 'test', 10).metrics;
  // Popularity scores about 10/40 at Recall@10 and 1/40 at Recall@1 here. The kept epoch is the
  // first with a perfect validation Recall@10, so Recall@1 need not be perfect yet.
  assert.ok(metrics['recall@10'] > 0.9, `test Recall@10 ${metrics['recall@10']}`);
  assert.ok(metrics['recall@1'] > 0.5, `test Recall@1 ${metrics['recall@1']}`);
  assert.ok(result.bestEpoch >= 1 && result.bestEpoch <= short.maxEpochs);
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

test('SASRec scores a batch of histories of mixed lengths as it scores each alone, in the order given', async () => {
  const sequences = ringSequences(3);
  const { recommender } = await trainSasrec(sequences, RING, { ...settings, maxEpochs: 1 }, 5);
  // Lengths 1..12 shuffled, some longer than maxLength (8): recommendMany groups them by length.
  const rng = new Rng(4);
  const histories = rng.shuffle(Array.from({ length: 12 }, (_, i) => i + 1)).map((n) => Int32Array.from({ length: n }, () => rng.int(RING)));
  const together = recommender.recommendMany!(histories, 5);
  histories.forEach((history, i) => {
    const alone = recommender.recommend(history, 5);
    assert.deepEqual(Array.from(together[i]!.items), Array.from(alone.items), `history ${i} (length ${history.length})`);
    together[i]!.scores.forEach((score, j) => assert.ok(Math.abs(score - alone.scores[j]!) < 1e-4, `history ${i} score ${j}`));
  });
});
