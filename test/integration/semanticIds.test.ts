import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeSyntheticDataset } from '../../datasets/synthetic.js';
import { resolveConfig } from '../../src/config/load.js';
import { ingest } from '../../src/data/ingest.js';
import { embedItems } from '../../src/embed/embedItems.js';
import { EMBEDDINGS_FILE } from '../../src/embed/writeEmbeddings.js';
import { runRqvaeStage } from '../../src/rqvae/stage.js';
import { runSemidStage } from '../../src/semid/stage.js';
import { readSemanticIds } from '../../src/semid/writeSemanticIds.js';
import { sha256File } from '../../src/store/digest.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lcrec-semid-'));
});
after(async () => rm(work, { recursive: true, force: true }));

/** ingest -> embed -> rqvae -> semid of the bundled sample into `root`, as the pipeline chains them. */
async function semanticIdsOfSample(root: string): Promise<string> {
  const config = await resolveConfig({ preset: 'tiny', sets: ['rqvae.epochs=60', 'rqvae.evalEvery=10'] });
  await writeSyntheticDataset(join(root, 'raw'), config.dataset.sample);
  await ingest(join(root, 'raw'), 'amazon2014', config.ingest, join(root, 'ingest'));
  await embedItems({ itemsPath: join(root, 'ingest', 'items.parquet'), outDir: join(root, 'embed'), settings: config.embed, seed: config.seed });
  const embeddings = join(root, 'embed', EMBEDDINGS_FILE);
  await runRqvaeStage(embeddings, join(root, 'rqvae'), config.rqvae, { seed: config.seed });
  await runSemidStage(embeddings, join(root, 'rqvae'), join(root, 'semid'), config.semid);
  return join(root, 'semid');
}

test('the same seed in two empty places gives byte-identical semantic IDs, with zero collisions', async () => {
  const a = await semanticIdsOfSample(join(work, 'a'));
  const b = await semanticIdsOfSample(join(work, 'b'));
  for (const file of ['semantic_ids.parquet', 'collision_report.json', 'vocabulary.json', 'trie.json']) {
    assert.equal((await sha256File(join(a, file))).sha256, (await sha256File(join(b, file))).sha256, file);
  }
  const report = JSON.parse(await readFile(join(a, 'collision_report.json'), 'utf8')) as { final: { collisionRate: number }; items: number };
  assert.equal(report.final.collisionRate, 0);
  const ids = await readSemanticIds(a);
  const seen = new Set<string>();
  for (let item = 0; item < report.items; item++) {
    const path = Array.from(ids.codes.subarray(item * ids.levels, (item + 1) * ids.levels));
    seen.add(path.join(','));
    assert.equal(ids.trie.itemAt(path), item, 'every item is reachable in the trie by its own ID');
  }
  assert.equal(seen.size, report.items, 'every item has its own ID');
});
