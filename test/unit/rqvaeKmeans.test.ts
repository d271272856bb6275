import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { kmeans, nearestCentroids, quantizationError } from '../../src/rqvae/kmeans.js';
import { selectBackend } from '../../src/tensor/backend.js';
import { Rng } from '../../src/tensor/rng.js';

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
});

/** n points around `centres` random centres in `dim` dims (spread 0.05 around unit-scale centres). */
function blobs(n: number, dim: number, centres: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const c = rng.fillNormal(new Float32Array(centres * dim));
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const k = i % centres;
    for (let j = 0; j < dim; j++) out[i * dim + j] = c[k * dim + j]! + 0.05 * rng.normal();
  }
  return out;
}

test('k-means gives a lower quantisation error than random initialisation, with either seeding', async () => {
  const n = 1500;
  const dim = 8;
  const k = 30;
  const points = blobs(n, dim, 40, 1);
  // random init: k random points (k-means with zero Lloyd updates), and genrec's U(0,1) codebook
  const random = await kmeans(points, n, dim, k, { iterations: 0, seeding: 'random', rng: new Rng(2) });
  const uniform = new Rng(2).fillUniform(new Float32Array(k * dim));
  const errRandom = quantizationError(points, n, dim, random.centroids, k);
  const errUniform = quantizationError(points, n, dim, uniform, k);
  for (const seeding of ['random', 'kmeans++'] as const) {
    const fit = await kmeans(points, n, dim, k, { iterations: 50, seeding, rng: new Rng(3) });
    const err = quantizationError(points, n, dim, fit.centroids, k);
    assert.ok(err < 0.8 * errRandom, `${seeding}: ${err} vs random points ${errRandom}`);
    assert.ok(err < 0.5 * errUniform, `${seeding}: ${err} vs U(0,1) ${errUniform}`);
    assert.ok(fit.iterations >= 1);
    assert.deepEqual(fit.assignment, nearestCentroids(points, n, dim, fit.centroids, k).assignment);
  }
});

test('k-means is deterministic for an Rng state and refuses more clusters than points', async () => {
  const points = blobs(300, 4, 10, 4);
  const a = await kmeans(points, 300, 4, 10, { iterations: 20, seeding: 'kmeans++', rng: new Rng(5) });
  const b = await kmeans(points, 300, 4, 10, { iterations: 20, seeding: 'kmeans++', rng: new Rng(5) });
  assert.deepEqual(a.centroids, b.centroids);
  assert.deepEqual(a.assignment, b.assignment);
  // 10 well-separated blobs, 10 clusters: k-means++ finds them (converges, every cluster used)
  assert.ok(a.converged);
  assert.equal(new Set(a.assignment).size, 10);
  await assert.rejects(kmeans(points, 300, 4, 301, { iterations: 1, seeding: 'random', rng: new Rng(1) }), /cannot make 301 clusters of 300 points/);
});
