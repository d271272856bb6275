import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBetterEvaluation, isSelectionCandidate } from '../../src/rqvae/evaluate.js';
import type { RqvaeEvaluation } from '../../src/rqvae/evaluate.js';
import { codeMetrics } from '../../src/rqvae/metrics.js';

test('collision rate, colliding items, usage and perplexity of hand-made codes', () => {
  // 6 items, 2 levels, codebook of 4: items 0,1,2 share (1,2); items 3,4 share (0,0); item 5 alone.
  const codes = Int32Array.from([1, 2, 1, 2, 1, 2, 0, 0, 0, 0, 3, 1]);
  const m = codeMetrics(codes, 2, 4);
  assert.equal(m.items, 6);
  assert.equal(m.distinctTuples, 3);
  assert.equal(m.collisionRate, 3 / 6); // (N - distinct) / N, the official definition
  assert.equal(m.collidingItemRate, 5 / 6); // items sharing their tuple with another
  assert.equal(m.largestGroup, 3);
  assert.deepEqual(m.usage, [3 / 4, 3 / 4]); // level 0 uses {0,1,3}, level 1 uses {0,1,2}
  // level 0 counts: code1 x3, code0 x2, code3 x1
  const h0 = -(0.5 * Math.log(0.5) + (1 / 3) * Math.log(1 / 3) + (1 / 6) * Math.log(1 / 6));
  assert.ok(Math.abs(m.perplexity[0]! - Math.exp(h0)) < 1e-12);

  const unique = codeMetrics(Int32Array.from([0, 1, 2, 3]), 1, 4);
  assert.equal(unique.collisionRate, 0);
  assert.equal(unique.collidingItemRate, 0);
  assert.equal(unique.largestGroup, 1);
  assert.deepEqual(unique.usage, [1]);
  assert.ok(Math.abs(unique.perplexity[0]! - 4) < 1e-12); // uniform over 4 codes

  assert.throws(() => codeMetrics(Int32Array.from([0, 7]), 1, 4), /outside 0\.\.3/);
});

test('selection rule: fewest collisions, then lower reconstruction loss, then the later evaluation', () => {
  const ev = (step: number, distinct: number, reconLoss: number): RqvaeEvaluation => ({
    ...codeMetrics(Int32Array.from({ length: 10 }, (_, i) => Math.min(i, distinct - 1)), 1, 16),
    epoch: step,
    step,
    reconLoss,
  });
  assert.ok(isBetterEvaluation(ev(1, 5, 1), undefined));
  assert.ok(isBetterEvaluation(ev(2, 9, 5), ev(1, 5, 1)), 'fewer collisions win over a better loss');
  assert.ok(!isBetterEvaluation(ev(2, 5, 2), ev(1, 5, 1)), 'same collisions: the lower loss stays');
  assert.ok(isBetterEvaluation(ev(2, 5, 0.5), ev(1, 5, 1)));
  assert.ok(isBetterEvaluation(ev(2, 5, 1), ev(1, 5, 1)), 'exact tie: the later one');
  // candidates: the second half of 100 epochs, and the last evaluation whatever the fraction
  assert.ok(!isSelectionCandidate(ev(49, 5, 1), 100, 0.5));
  assert.ok(isSelectionCandidate(ev(50, 5, 1), 100, 0.5));
  assert.ok(isSelectionCandidate(ev(100, 5, 1), 100, 1));
  assert.ok(isSelectionCandidate(ev(1, 5, 1), 100, 0));
});
