import { SingleBar } from 'cli-progress';
import type { PipelineConfig } from '../src/config/schema.js';
import { ingest, type IngestStats } from '../src/data/ingest.js';
import type { Progress } from '../src/data/itemText.js';
import { join } from 'node:path';
import { downloadS3Dataset } from '../src/data/s3Source.js';
import { assertFormat } from '../src/data/sources.js';
import { isS3Uri } from '../src/store/s3Client.js';
import { lcrecHome } from '../infra/paths.js';
import { fetchDatasetSource } from '../datasets/fetchSource.js';

/**
 * `lcrec ingest`: the ingestion library on its own, no Temporal, with a progress bar. `source` is
 * a path, an s3:// prefix, http(s) URLs (comma-separated) or a registry name
 * (`amazon2018:gift_cards`); `format` undefined means: the registry's, else detected from the files.
 */
export async function ingestCommand(source: string, format: string | undefined, outDir: string, config: PipelineConfig): Promise<IngestStats> {
  const bar = process.stderr.isTTY ? new SingleBar({ format: ' {phase} [{bar}] {percentage}%', hideCursor: true }) : undefined;
  let phase = '';
  const onProgress = (p: Progress) => {
    if (!bar) {
      if (p.phase !== phase) process.stderr.write(`  ${p.phase}...\n`);
    } else if (p.phase !== phase) {
      bar.stop();
      bar.start(p.total ?? 1, p.done, { phase: p.phase });
    } else bar.update(p.done);
    phase = p.phase;
  };
  try {
    const given = format === undefined ? undefined : assertFormat(format);
    // An s3:// dataset is fetched into the data directory's cache first, as the pipeline does.
    if (isS3Uri(source)) {
      const local = await downloadS3Dataset(source, join(lcrecHome(), 'cache', 'datasets'));
      return await ingest(local, given, config.ingest, outDir, { onProgress });
    }
    const local = await fetchDatasetSource(source, { dataDir: lcrecHome(), onProgress });
    return await ingest(local.path, given ?? local.format, config.ingest, outDir, { onProgress });
  } finally {
    bar?.stop();
  }
}

export function formatStats(stats: IngestStats): string {
  const n = (x: number) => x.toLocaleString('en-US');
  return `${n(stats.users)} users, ${n(stats.items)} items, ${n(stats.interactions)} interactions (${stats.format}, avg length ${stats.avgSequenceLength}, k-core ${stats.kCore || 'off'})`;
}
