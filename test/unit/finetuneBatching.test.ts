import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildBatch, paddingWaste, planEpoch, prepareSequence, supervisedCount } from '../../src/finetune/batching.js';
import { BadInputError } from '../../src/errors.js';
import { Rng } from '../../src/tensor/rng.js';

const ids = (...xs: number[]) => Int32Array.from(xs);

test('EOS is appended and supervised even when pad == eos: positions are masked, not token ids', () => {
  const EOS = 0;
  const seq = prepareSequence({ promptIds: ids(5, 6, 7), responseIds: ids(8, 9) }, EOS, 32, 'unit 0');
  assert.deepEqual(Array.from(seq.ids), [5, 6, 7, 8, 9, EOS]);
  const short = prepareSequence({ promptIds: ids(5), responseIds: ids(8) }, EOS, 32, 'unit 1');
  const batch = buildBatch([seq, short], EOS); // padded with EOS = 0
  assert.equal(batch.seq, 6);
  assert.deepEqual(Array.from(batch.ids), [5, 6, 7, 8, 9, 0, 5, 8, 0, 0, 0, 0]);
  // Row 0: positions 2,3,4 predict 8, 9, EOS. Row 1: positions 0,1 predict 8, EOS; the pad EOSs at 3..5 are not targets.
  assert.deepEqual(Array.from(batch.rows), [2, 3, 4, 6, 7]);
  assert.deepEqual(Array.from(batch.targets), [8, 9, EOS, 8, EOS]);
  assert.equal(supervisedCount(seq) + supervisedCount(short), batch.targets.length);
});

test('a prompt longer than maxLength loses tokens on the left; the response never does', () => {
  const seq = prepareSequence({ promptIds: ids(1, 2, 3, 4, 5, 6), responseIds: ids(7, 8, 9) }, 99, 8, 'unit 3');
  assert.deepEqual(Array.from(seq.ids), [3, 4, 5, 6, 7, 8, 9, 99]);
  assert.equal(seq.truncated, 2);
  assert.equal(seq.promptLength, 4);
  assert.throws(
    () => prepareSequence({ promptIds: ids(1), responseIds: ids(1, 2, 3, 4, 5, 6, 7, 8) }, 99, 8, 'sample unit 12'),
    (e: unknown) => e instanceof BadInputError && /sample unit 12/.test(e.message) && /maxLength 8/.test(e.message),
  );
});

test('an empty prompt supervises every response token after the first', () => {
  const batch = buildBatch([prepareSequence({ promptIds: ids(), responseIds: ids(4, 5) }, 1, 16, 'u')], 0);
  assert.deepEqual(Array.from(batch.targets), [5, 1]);
});

test('length buckets: every unit once per epoch, far less padding than random batches, deterministic', () => {
  const rng = new Rng(3);
  const lengths = Int32Array.from({ length: 1000 }, () => 10 + rng.int(200));
  const plan = planEpoch(lengths, 16, 20, new Rng(7));
  const seen = plan.flatMap((b) => Array.from(b)).sort((a, b) => a - b);
  assert.deepEqual(seen, Array.from({ length: 1000 }, (_, i) => i));
  assert.equal(plan.length, Math.ceil(1000 / 16));
  const random = planEpoch(lengths, 16, 1, new Rng(7));
  assert.ok(paddingWaste(plan, lengths) < 0.05, `bucketed waste ${paddingWaste(plan, lengths)}`);
  assert.ok(paddingWaste(random, lengths) > 0.3, `random waste ${paddingWaste(random, lengths)}`);
  assert.deepEqual(planEpoch(lengths, 16, 20, new Rng(7)), plan);
});
