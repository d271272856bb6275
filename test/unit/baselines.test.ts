import assert from 'node:assert/strict';
import { test } from 'node:test';
import { itemTransitionRecommender } from '../../src/baselines/itemTransition.js';
import { countPopularity, popularityRecommender } from '../../src/baselines/popularity.js';
import { trainingPart } from '../../src/data/datasetReader.js';
import { evaluateSplit } from '../../src/eval/evaluate.js';
import { MetricsAccumulator } from '../../src/eval/metrics.js';

// Five users over items 0..5. Training parts (last two items dropped):
//   u0: 0 1 2 | 3 4     u1: 0 1 3 | 2 5     u2: 1 2 0 | 1 2     u3: 0 2 1 | 4 0     u4: 5 0 | 1 3
const sequences = [
  [0, 1, 2, 3, 4],
  [0, 1, 3, 2, 5],
  [1, 2, 0, 1, 2],
  [0, 2, 1, 4, 0],
  [5, 0, 1, 3],
].map((s) => Int32Array.from(s));
const train = sequences.map(trainingPart);

test('popularity counts the training part only and breaks ties by item id', () => {
  const pop = countPopularity(train, 6);
  // training counts: item0: 5, item1: 4, item2: 3, item3: 1, item4: 0, item5: 1
  assert.deepEqual(Array.from(pop.counts), [5, 4, 3, 1, 0, 1]);
  assert.deepEqual(Array.from(pop.order), [0, 1, 2, 3, 5, 4]);
  assert.deepEqual(Array.from(popularityRecommender(pop).recommend(Int32Array.of(4), 3).items), [0, 1, 2]);
});

test('item-transition ranks successors of the last item by count, then popularity, then id, and fills with popular items', () => {
  const pop = countPopularity(train, 6);
  const rec = itemTransitionRecommender(train, pop);
  // transitions from 0: 0->1 (u0, u1), 0->2 (u3); from 1: 1->2 (u0, u2), 1->3 (u1); from 2: 2->0 (u2), 2->1 (u3); 5->0 (u4)
  assert.deepEqual(Array.from(rec.recommend(Int32Array.of(3, 0), 4).items), [1, 2, 0, 3]);
  assert.deepEqual(Array.from(rec.recommend(Int32Array.of(1), 3).items), [2, 3, 0]);
  // 2->0 and 2->1 both count 1: item 0 is more popular, so it comes first.
  assert.deepEqual(Array.from(rec.recommend(Int32Array.of(2), 2).items), [0, 1]);
  // An item never followed by anything: popularity alone.
  assert.deepEqual(Array.from(rec.recommend(Int32Array.of(4), 3).items), [0, 1, 2]);
  const scored = rec.recommend(Int32Array.of(0), 4);
  assert.ok(scored.scores[1]! > scored.scores[2]!, 'fill-ups score below observed transitions');
});

test('evaluation uses the second-to-last item for valid and the last for test, with hand-computed metrics', () => {
  const pop = countPopularity(train, 6);
  const rec = itemTransitionRecommender(train, pop);
  // valid (last history item -> target, its list, rank):
  //   u0 2->3 [0,1,2,3,5,4] 3;  u1 3->2 popular [0,1,2,..] 2;  u2 0->1 [1,2,..] 0;
  //   u3 1->4 [2,3,0,1,5,4] 5;  u4 0->1 [1,2,..] 0
  const valid = evaluateSplit(rec, sequences, 'valid', 10).metrics;
  assert.equal(valid.users, 5);
  assert.equal(valid['recall@1'], 2 / 5);
  assert.equal(valid['recall@5'], 4 / 5);
  assert.equal(valid['recall@10'], 5 / 5);
  const ndcg5 = (1 / Math.log2(5) + 1 / Math.log2(4) + 1 + 1) / 5;
  assert.ok(Math.abs(valid['ndcg@5'] - ndcg5) < 1e-12);
  const test = evaluateSplit(rec, sequences, 'test', 10);
  // test: u0 3->4 rank 5; u1 2->5 rank 4; u2 1->2 rank 0; u3 4->0 (popular) rank 0; u4 1->3 rank 1
  assert.equal(test.metrics['recall@1'], 2 / 5);
  assert.equal(test.metrics['recall@5'], 4 / 5);
  assert.equal(test.predictions.user.length, 5 * 6, 'every user gets the full list (6 items exist)');
});

test('the metric formulas: Recall@K = 1[rank < K], NDCG@K = 1/log2(rank+2)', () => {
  const acc = new MetricsAccumulator();
  acc.add(0);
  acc.add(4);
  acc.add(9);
  acc.add(-1);
  const m = acc.result();
  assert.equal(m['recall@1'], 1 / 4);
  assert.equal(m['recall@5'], 2 / 4);
  assert.equal(m['recall@10'], 3 / 4);
  assert.ok(Math.abs(m['ndcg@10'] - (1 + 1 / Math.log2(6) + 1 / Math.log2(11)) / 4) < 1e-12);
  assert.equal(m['ndcg@1'], m['recall@1']);
});
