import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, deriveSeed, rngFor } from '../../src/tensor/rng.js';

test('xoshiro128** matches the reference output for state [1, 2, 3, 4]', () => {
  // First outputs of the C reference implementation (prng.di.unimi.it) from s = {1, 2, 3, 4}.
  const rng = Rng.fromState({ algorithm: 'xoshiro128**', words: [1, 2, 3, 4] });
  const out = Array.from({ length: 10 }, () => rng.uint32());
  assert.deepEqual(out, [11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804]);
});

test('the same seed gives the same stream, different seeds different streams', () => {
  const draw = (seed: number) => {
    const rng = new Rng(seed);
    return [rng.uint32(), rng.float(), rng.int(1000), rng.normal(), ...rng.sample(50, 5)];
  };
  assert.deepEqual(draw(2024), draw(2024));
  assert.notDeepEqual(draw(2024), draw(2025));
  assert.notDeepEqual(draw(1), draw(2));
  // Seeds that differ only in the high 32 bits are different seeds too.
  assert.notDeepEqual(draw(5), draw(2 ** 40 + 5));
  assert.notDeepEqual(draw(-1), draw(1));
});

test('a saved state resumes exactly the same stream, and survives JSON', () => {
  const rng = new Rng(7);
  for (let i = 0; i < 1000; i++) rng.normal();
  const saved = JSON.parse(JSON.stringify(rng.state()));
  const expected = [rng.float(), rng.int(17), rng.normal(), rng.uint32(), ...rng.shuffle([1, 2, 3, 4, 5, 6])];
  const resumed = Rng.fromState(saved);
  const actual = [resumed.float(), resumed.int(17), resumed.normal(), resumed.uint32(), ...resumed.shuffle([1, 2, 3, 4, 5, 6])];
  assert.deepEqual(actual, expected);
  // The state object is a snapshot, not a live view.
  const snapshot = rng.state();
  rng.uint32();
  assert.notDeepEqual(rng.state(), snapshot);
});

test('fromState rejects states that are not xoshiro128** words', () => {
  assert.throws(() => Rng.fromState({ algorithm: 'xoshiro128**', words: [0, 0, 0, 0] }), /not a saved/);
  assert.throws(() => Rng.fromState({ algorithm: 'xoshiro128**', words: [1, 2, 3] } as never), /not a saved/);
  assert.throws(() => Rng.fromState({ algorithm: 'xoshiro128**', words: [1, 2, 3, 2 ** 32] }), /not a saved/);
  assert.throws(() => Rng.fromState({ algorithm: 'mt19937', words: [1, 2, 3, 4] } as never), /not a saved/);
  assert.throws(() => new Rng(1.5), /safe integer/);
});

test('float() is uniform on [0, 1): range, mean and decile counts', () => {
  const rng = new Rng(11);
  const n = 200_000;
  const deciles = new Array<number>(10).fill(0);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = rng.float();
    assert.ok(x >= 0 && x < 1);
    sum += x;
    deciles[Math.floor(x * 10)]! += 1;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.005, `mean ${sum / n}`);
  // Chi-square with 9 degrees of freedom: 27.9 is the 0.999 quantile.
  const chi2 = deciles.reduce((a, c) => a + (c - n / 10) ** 2 / (n / 10), 0);
  assert.ok(chi2 < 27.9, `chi2 ${chi2}`);
});

test('int(n) covers 0..n-1 evenly, also for n that does not divide 2^32', () => {
  const rng = new Rng(3);
  for (const n of [1, 3, 7, 1000]) {
    const counts = new Map<number, number>();
    const draws = n * 2000;
    for (let i = 0; i < draws; i++) {
      const x = rng.int(n);
      assert.ok(Number.isInteger(x) && x >= 0 && x < n);
      counts.set(x, (counts.get(x) ?? 0) + 1);
    }
    assert.equal(counts.size, n);
    if (n > 1) {
      const chi2 = [...counts.values()].reduce((a, c) => a + (c - 2000) ** 2 / 2000, 0);
      // Mean n-1, sd sqrt(2(n-1)): allow 5 sd.
      assert.ok(chi2 < n - 1 + 5 * Math.sqrt(2 * (n - 1)) + 5, `n=${n} chi2=${chi2}`);
    }
  }
  // 3 * 2^30 does not divide 2^32: a plain modulo would put 2/3 of the mass below 2^31.
  let below = 0;
  for (let i = 0; i < 30_000; i++) if (rng.int(3 * 2 ** 30) < 2 ** 31) below++;
  assert.ok(Math.abs(below / 30_000 - 2 / 3) < 0.015, `${below / 30_000}`);
  assert.throws(() => rng.int(0), RangeError);
  assert.throws(() => rng.int(2.5), RangeError);
  assert.throws(() => rng.int(2 ** 32 + 1), RangeError);
});

test('normal() has mean 0 and standard deviation 1; fillNormal scales', () => {
  const rng = new Rng(5);
  const xs = rng.fillNormal(new Float64Array(100_000));
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  assert.ok(Math.abs(mean) < 0.015, `mean ${mean}`);
  assert.ok(Math.abs(sd - 1) < 0.015, `sd ${sd}`);
  const scaled = rng.fillNormal(new Float32Array(50_000), 3, 0.5);
  const m2 = scaled.reduce((a, b) => a + b, 0) / scaled.length;
  assert.ok(Math.abs(m2 - 3) < 0.02, `mean ${m2}`);
  const uniform = rng.fillUniform(new Float32Array(10_000), -2, 2);
  assert.ok(uniform.every((x) => x >= -2 && x < 2));
});

test('shuffle permutes in place and every position gets every value', () => {
  const rng = new Rng(9);
  const a = Array.from({ length: 100 }, (_, i) => i);
  const same = rng.shuffle(a);
  assert.equal(same, a);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.notDeepEqual(a, Array.from({ length: 100 }, (_, i) => i));
  const firstCounts = new Array<number>(4).fill(0);
  for (let i = 0; i < 8000; i++) firstCounts[rng.shuffle(new Int32Array([0, 1, 2, 3]))[0]!]! += 1;
  for (const c of firstCounts) assert.ok(Math.abs(c - 2000) < 200, `${firstCounts}`);
});

test('sample(n, k) returns k distinct values of [0, n), each value equally likely', () => {
  const rng = new Rng(13);
  const counts = new Array<number>(20).fill(0);
  for (let i = 0; i < 5000; i++) {
    const s = rng.sample(20, 5);
    assert.equal(s.length, 5);
    assert.equal(new Set(s).size, 5);
    for (const x of s) {
      assert.ok(x >= 0 && x < 20);
      counts[x]! += 1;
    }
  }
  for (const c of counts) assert.ok(Math.abs(c - 1250) < 150, `${counts}`);
  assert.deepEqual([...rng.sample(5, 5)].sort(), [0, 1, 2, 3, 4]);
  assert.equal(rng.sample(1_000_000_000, 3).length, 3);
  assert.equal(rng.sample(4, 0).length, 0);
  assert.throws(() => rng.sample(3, 4), RangeError);
});

test('deriveSeed is stable, and differs per label and per root seed', () => {
  // Pinned: changing the hash would silently change every derived stream of every saved run.
  assert.equal(deriveSeed(2024, 'rqvae/init'), 2014798561);
  assert.equal(deriveSeed(2024, 'rqvae/shuffle'), 4121921013);
  assert.equal(deriveSeed(0, ''), 2872998923);
  const labels = ['rqvae/init', 'rqvae/shuffle', 'rqvae/kmeans/0', 'rqvae/kmeans/1', 'sft/shuffle', 'a', 'b', ''];
  const seeds = labels.map((l) => deriveSeed(2024, l));
  assert.equal(new Set(seeds).size, labels.length);
  for (const s of seeds) assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 32);
  assert.notEqual(deriveSeed(2024, 'x'), deriveSeed(2023, 'x'));
  assert.notEqual(deriveSeed(1, 'x'), deriveSeed(2 ** 32 + 1, 'x'));
  assert.notEqual(deriveSeed(1, 'é'), deriveSeed(1, 'e'));
  // Streams of different labels are uncorrelated in practice.
  const a = rngFor(2024, 'a');
  const b = rngFor(2024, 'b');
  let equal = 0;
  for (let i = 0; i < 1000; i++) if (a.int(10) === b.int(10)) equal++;
  assert.ok(equal > 50 && equal < 160, `${equal}`);
});
