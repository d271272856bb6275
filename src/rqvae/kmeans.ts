/**
 * Seeded Lloyd k-means for codebook initialisation (spec C.1 "Codebook init"). Distances to all
 * centroids come from one matMul per chunk (`squaredDistances`, ||x||^2 + ||c||^2 - 2 x.c^T), the
 * centroid means are summed host-side in float64. Deterministic for a given Rng state.
 * Seeding: `kmeans++` (D^2 sampling, one candidate per centre: sklearn's greedy variant tries
 * 2 + log k) or `random` (distinct random points, genrec). An empty cluster is reseeded with a
 * random point (genrec). Stops after `iterations` updates or when no assignment changes.
 * Yields to the event loop between updates (a Temporal activity keeps heartbeating).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { tf } from '../tensor/backend.js';
import { squaredDistances } from '../tensor/ops.js';
import type { Rng } from '../tensor/rng.js';
import type { KMeansSeeding } from './settings.js';

export interface KMeansOptions {
  iterations: number;
  seeding: KMeansSeeding;
  rng: Rng;
  signal?: AbortSignal;
}

export interface KMeansResult {
  /** [k, dim] row-major. */
  centroids: Float32Array;
  /** Nearest centroid of each point, for the returned centroids. */
  assignment: Int32Array;
  /** Lloyd updates run. */
  iterations: number;
  converged: boolean;
}

/** Rows per distance matMul: bounds the [rows, k] matrix on the wasm heap. */
const CHUNK_ROWS = 8192;

/** k-means of `n` points [n, dim] (row-major) into k clusters. */
export async function kmeans(points: Float32Array, n: number, dim: number, k: number, opts: KMeansOptions): Promise<KMeansResult> {
  if (points.length !== n * dim) throw new RangeError(`kmeans: ${points.length} values are not ${n} x ${dim}`);
  if (!Number.isInteger(k) || k < 1 || k > n) throw new RangeError(`kmeans: cannot make ${k} clusters of ${n} points`);
  let centroids = opts.seeding === 'kmeans++' ? seedPlusPlus(points, n, dim, k, opts.rng) : seedRandom(points, n, dim, k, opts.rng);
  let assignment = nearestCentroids(points, n, dim, centroids, k).assignment;
  let iterations = 0;
  let converged = false;
  while (iterations < opts.iterations) {
    await yieldToEventLoop();
    opts.signal?.throwIfAborted();
    centroids = clusterMeans(points, n, dim, k, assignment, opts.rng);
    const next = nearestCentroids(points, n, dim, centroids, k).assignment;
    iterations++;
    const unchanged = next.every((c, i) => c === assignment[i]);
    assignment = next;
    if (unchanged) {
      converged = true;
      break;
    }
  }
  return { centroids, assignment, iterations, converged };
}

/** Index of the nearest centroid of each point and the squared distance to it (clamped at 0). */
export function nearestCentroids(points: Float32Array, n: number, dim: number, centroids: Float32Array, k: number): { assignment: Int32Array; distances: Float32Array } {
  const assignment = new Int32Array(n);
  const distances = new Float32Array(n);
  const c = tf.tensor2d(centroids, [k, dim]);
  try {
    for (let start = 0; start < n; start += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, n - start);
      const [idx, min] = tf.tidy(() => {
        const d = squaredDistances(tf.tensor2d(points.subarray(start * dim, (start + rows) * dim), [rows, dim]), c);
        return [tf.argMin(d, 1), tf.min(d, 1)];
      });
      assignment.set(idx!.dataSync(), start);
      distances.set(min!.dataSync(), start);
      tf.dispose([idx!, min!]);
    }
  } finally {
    c.dispose();
  }
  for (let i = 0; i < n; i++) if ((distances[i] as number) < 0) distances[i] = 0; // rounding of the expansion
  return { assignment, distances };
}

/** Mean squared distance of the points to their nearest centroid (the k-means objective / n). */
export function quantizationError(points: Float32Array, n: number, dim: number, centroids: Float32Array, k: number): number {
  const { distances } = nearestCentroids(points, n, dim, centroids, k);
  let sum = 0;
  for (const d of distances) sum += d;
  return sum / n;
}

function seedRandom(points: Float32Array, n: number, dim: number, k: number, rng: Rng): Float32Array {
  const out = new Float32Array(k * dim);
  rng.sample(n, k).forEach((p, j) => out.set(points.subarray(p * dim, (p + 1) * dim), j * dim));
  return out;
}

/** k-means++: each next centre is a point drawn with probability proportional to D(x)^2. */
function seedPlusPlus(points: Float32Array, n: number, dim: number, k: number, rng: Rng): Float32Array {
  const out = new Float32Array(k * dim);
  const d2 = new Float64Array(n).fill(Infinity);
  let pick = rng.int(n);
  for (let j = 0; j < k; j++) {
    out.set(points.subarray(pick * dim, (pick + 1) * dim), j * dim);
    let total = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let t = 0; t < dim; t++) {
        const diff = (points[i * dim + t] as number) - (points[pick * dim + t] as number);
        s += diff * diff;
      }
      if (s < (d2[i] as number)) d2[i] = s;
      total += d2[i] as number;
    }
    if (j === k - 1) break;
    if (!(total > 0)) {
      pick = rng.int(n); // every point coincides with a centre already
      continue;
    }
    let target = rng.float() * total;
    pick = n - 1;
    for (let i = 0; i < n; i++) {
      target -= d2[i] as number;
      if (target < 0) {
        pick = i;
        break;
      }
    }
  }
  return out;
}

/** New centroids: the mean of each cluster's points; an empty cluster gets a random point. */
function clusterMeans(points: Float32Array, n: number, dim: number, k: number, assignment: Int32Array, rng: Rng): Float32Array {
  const sums = new Float64Array(k * dim);
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const c = assignment[i] as number;
    counts[c] = (counts[c] as number) + 1;
    for (let t = 0; t < dim; t++) sums[c * dim + t] = (sums[c * dim + t] as number) + (points[i * dim + t] as number);
  }
  const out = new Float32Array(k * dim);
  for (let c = 0; c < k; c++) {
    const count = counts[c] as number;
    if (count === 0) {
      const p = rng.int(n);
      out.set(points.subarray(p * dim, (p + 1) * dim), c * dim);
      continue;
    }
    for (let t = 0; t < dim; t++) out[c * dim + t] = (sums[c * dim + t] as number) / count;
  }
  return out;
}
