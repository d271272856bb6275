/**
 * Writes the synthetic Amazon-2014 sample (see synthetic.ts) into a directory.
 *
 *   node --import tsx datasets/generate-sample.ts <outDir> [--seed N] [--users N] [--items N] [--category Beauty]
 */
import { parseArgs } from 'node:util';
import { SAMPLE_PRESET, type SyntheticOptions, writeSyntheticDataset } from './synthetic.js';

function intOption(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`--${name} must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      seed: { type: 'string' },
      users: { type: 'string' },
      items: { type: 'string' },
      category: { type: 'string' },
    },
  });
  const outDir = positionals[0];
  if (outDir === undefined || positionals.length > 1) {
    throw new Error('usage: generate-sample.ts <outDir> [--seed N] [--users N] [--items N] [--category NAME]');
  }
  const opts: SyntheticOptions = {
    seed: intOption('seed', values.seed, SAMPLE_PRESET.seed),
    users: intOption('users', values.users, SAMPLE_PRESET.users),
    items: intOption('items', values.items, SAMPLE_PRESET.items),
    category: values.category ?? SAMPLE_PRESET.category,
  };
  const r = await writeSyntheticDataset(outDir, opts);
  console.log(
    `wrote ${r.reviews} reviews (${r.users} users, ${r.reviewedItems} items) to ${r.reviewsFile} ` +
      `and ${r.metaRecords} metadata records to ${r.metaFile} (seed ${opts.seed})`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
