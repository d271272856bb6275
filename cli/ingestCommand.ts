import { SingleBar } from 'cli-progress';
import type { PipelineConfig } from '../src/config/schema.js';
import { ingest, type IngestStats } from '../src/data/ingest.js';
import type { Progress } from '../src/data/itemText.js';
import { join } from 'node:path';
import { downloadS3Dataset } from '../src/data/s3Source.js';
import { assertFormat } from '../src/data/sources.js';
import { isS3Uri } from '../src/store/s3Client.js';
import { lcrecHome } from '../infra/paths.js';

/** `lcrec ingest`: the ingestion library on its own, no Temporal, with a progress bar. */
export async function ingestCommand(source: string, format: string, outDir: string, config: PipelineConfig): Promise<IngestStats> {
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
    // An s3:// dataset is fetched into the data directory's cache first, as the pipeline does.
    const local = isS3Uri(source) ? await downloadS3Dataset(source, join(lcrecHome(), 'cache', 'datasets')) : source;
    return await ingest(local, assertFormat(format), config.ingest, outDir, { onProgress });
  } finally {
    bar?.stop();
  }
}

export function formatStats(stats: IngestStats): string {
  const n = (x: number) => x.toLocaleString('en-US');
  return `${n(stats.users)} users, ${n(stats.items)} items, ${n(stats.interactions)} interactions (avg length ${stats.avgSequenceLength}, k-core ${stats.kCore || 'off'})`;
}
