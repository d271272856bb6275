import { access, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fetchDatasetSource } from '../datasets/fetchSource.js';
import { isDatasetName } from '../datasets/registry.js';
import { isHttpUrl } from '../src/data/download.js';
import { writeSyntheticDataset } from '../datasets/synthetic.js';
import type { DatasetConfig } from '../src/config/schema.js';
import { downloadS3Dataset } from '../src/data/s3Source.js';
import { resolveSourceFiles, type SourceFiles } from '../src/data/sources.js';
import { isS3Uri } from '../src/store/s3Client.js';
import { sha256File } from '../src/store/digest.js';
import { digestOf } from '../src/util/canonical.js';

/**
 * The dataset's files on this worker. `sample` is generated (deterministically, so its content
 * digest is stable) into the data directory on first use; `s3://bucket/prefix` is downloaded into
 * the data directory's cache (keyed by the objects' ETags and sizes); anything else is a path.
 */
export async function materializeSource(dataset: DatasetConfig, home: string): Promise<SourceFiles> {
  if (isS3Uri(dataset.source)) {
    return resolveSourceFiles(await downloadS3Dataset(dataset.source, join(home, 'cache', 'datasets')), dataset.format);
  }
  // Registry names (amazon2018:gift_cards) and http(s) URLs are downloaded into the data directory first.
  if (isDatasetName(dataset.source) || isHttpUrl(dataset.source.split(',')[0]!.trim())) {
    const local = await fetchDatasetSource(dataset.source, { dataDir: home });
    return resolveSourceFiles(local.path, local.format ?? dataset.format);
  }
  if (dataset.source !== 'sample') return resolveSourceFiles(dataset.source, dataset.format);
  const dir = join(home, 'datasets', `sample-${digestOf(dataset.sample).slice(0, 12)}`);
  const exists = await access(dir).then(() => true, () => false);
  if (!exists) {
    // Generate beside the target and rename: a half-written sample is never picked up.
    await mkdir(join(home, 'datasets'), { recursive: true });
    const scratch = await mkdtemp(`${dir}.tmp-`);
    try {
      await writeSyntheticDataset(scratch, dataset.sample);
      await rename(scratch, dir).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err; // another worker won the race
      });
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  return resolveSourceFiles(dir, 'amazon2014');
}

/** Content digests of a dataset's files, by role: what an ingestion key is made of. */
export async function digestSourceFiles(files: SourceFiles): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (const [role, path] of Object.entries(files.files)) digests[role] = `sha256:${(await sha256File(path)).sha256}`;
  return digests;
}
