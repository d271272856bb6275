/**
 * Codebook initialisation before step 0 (spec C.1): encode a large sample of items, then level by
 * level run k-means on the residuals and subtract each point's nearest new codeword, so level l
 * is fitted to what levels 0..l-1 leave over.
 */
import type { ProgressSink } from '../data/itemText.js';
import { BadInputError } from '../errors.js';
import { tf } from '../tensor/backend.js';
import type { Rng } from '../tensor/rng.js';
import { encodeLatents } from './codes.js';
import { kmeans } from './kmeans.js';
import type { Rqvae } from './model.js';

export interface CodebookInitReport {
  samples: number;
  /** Per level: Lloyd updates run and whether assignments stopped changing. */
  levels: Array<{ iterations: number; converged: boolean }>;
}

export async function initCodebooksByKMeans(
  model: Rqvae,
  embeddings: Float32Array,
  rng: Rng,
  opts: { signal?: AbortSignal; onProgress?: ProgressSink } = {},
): Promise<CodebookInitReport> {
  const { kmeansSamples, kmeansIterations, kmeansSeeding, codebookSize: k, latentDim: dim } = model.settings;
  const rows = embeddings.length / model.config.inputDim;
  const n = Math.min(kmeansSamples, rows);
  if (n < k) {
    throw new BadInputError(`k-means needs at least codebookSize = ${k} items to initialise a codebook, but has ${n} (${rows} items, kmeansSamples ${kmeansSamples}); use a smaller codebook`, {
      field: 'rqvae.codebookSize',
    });
  }
  const items = n === rows ? undefined : rng.sample(rows, n).sort();
  const residual = encodeLatents(model, embeddings, items);
  const report: CodebookInitReport = { samples: n, levels: [] };
  for (const [level, codebook] of model.codebooks.entries()) {
    opts.onProgress?.({ phase: 'rqvae k-means codebooks', done: level, total: model.codebooks.length });
    const fit = await kmeans(residual, n, dim, k, { iterations: kmeansIterations, seeding: kmeansSeeding, rng, signal: opts.signal });
    tf.tidy(() => codebook.assign(tf.tensor2d(fit.centroids, [k, dim])));
    for (let i = 0; i < n; i++) {
      const c = fit.assignment[i]! * dim;
      for (let t = 0; t < dim; t++) residual[i * dim + t] = residual[i * dim + t]! - fit.centroids[c + t]!;
    }
    report.levels.push({ iterations: fit.iterations, converged: fit.converged });
  }
  return report;
}
