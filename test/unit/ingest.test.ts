import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type * as arrow from 'apache-arrow';
import { SAMPLE_PRESET, writeSyntheticDataset } from '../../datasets/synthetic.js';
import { INTERACTIONS_SCHEMA, ITEMS_SCHEMA, SEQUENCES_SCHEMA } from '../../src/data/datasetTables.js';
import { ingest, INGEST_OUTPUTS, type IngestSettings, type IngestStats } from '../../src/data/ingest.js';
import { assertFormat } from '../../src/data/sources.js';
import { BadInputError } from '../../src/errors.js';
import { readParquet } from '../../src/tables/parquet.js';

let root: string;
let counter = 0;
before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'lcrec-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh, empty directory under the test's temp root. */
async function freshDir(label: string): Promise<string> {
  const dir = path.join(root, `${label}-${counter++}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

const SETTINGS: IngestSettings = { kCore: null, dedupe: true, requireMetadata: true, minSequenceLength: 5 };

interface Review {
  reviewerID?: string;
  asin?: string;
  unixReviewTime?: number;
}

const reviewLines = (reviews: Review[]) => reviews.map((r) => JSON.stringify(r)).join('\n') + '\n';

/** An Amazon 2014 dataset directory: gzipped JSON-lines reviews, gzipped Python-literal metadata. */
async function amazonDir(label: string, reviews: string | Buffer, metaLines: string[]): Promise<{ dir: string; reviewsFile: string; metaFile: string }> {
  const dir = await freshDir(label);
  const reviewsFile = path.join(dir, 'reviews_Tiny_5.json.gz');
  const metaFile = path.join(dir, 'meta_Tiny.json.gz');
  await writeFile(reviewsFile, typeof reviews === 'string' ? gzipSync(reviews) : reviews);
  await writeFile(metaFile, gzipSync(metaLines.join('\n') + '\n'));
  return { dir, reviewsFile, metaFile };
}

const meta = (asin: string, title = `Product ${asin}`) =>
  `{'asin': '${asin}', 'title': '${title}', 'categories': [['Beauty', 'Hair Care']], 'price': 5.0}`;

function column<T extends arrow.TypeMap>(table: arrow.Table<T>, name: keyof T & string): unknown[] {
  return Array.from(table.getChild(name)!.toArray() as ArrayLike<unknown>);
}

function lists(table: arrow.Table, name: string): number[][] {
  const vector = table.getChild(name)!;
  return Array.from({ length: table.numRows }, (_, i) => Array.from(vector.get(i)!.toArray() as ArrayLike<number | bigint>, Number));
}

async function readOutputs(outDir: string) {
  return {
    items: await readParquet(path.join(outDir, 'items.parquet'), ITEMS_SCHEMA),
    interactions: await readParquet(path.join(outDir, 'interactions.parquet'), INTERACTIONS_SCHEMA),
    sequences: await readParquet(path.join(outDir, 'sequences.parquet'), SEQUENCES_SCHEMA),
    stats: JSON.parse(await readFile(path.join(outDir, 'stats.json'), 'utf8')) as IngestStats,
  };
}

describe('ingest of the synthetic sample', () => {
  let sampleDir: string;
  let out1: string;
  let out2: string;
  let stats: IngestStats;

  before(async () => {
    sampleDir = await freshDir('sample');
    await writeSyntheticDataset(sampleDir, SAMPLE_PRESET);
    out1 = path.join(root, 'sample-out-1');
    out2 = path.join(root, 'sample-out-2');
    stats = await ingest(sampleDir, 'amazon2014', SETTINGS, out1);
    await ingest(sampleDir, 'amazon2014', SETTINGS, out2);
  });

  test('writes exactly the documented outputs', async () => {
    assert.deepEqual((await readdir(out1)).sort(), [...INGEST_OUTPUTS].sort());
  });

  test('stats.json, the returned stats and the Parquet row counts agree', async () => {
    const { items, interactions, sequences, stats: written } = await readOutputs(out1);
    assert.deepEqual(written, stats);
    assert.equal(items.numRows, stats.items);
    assert.equal(sequences.numRows, stats.users);
    assert.equal(interactions.numRows, stats.interactions);
    assert.ok(stats.users > 0 && stats.items > 0);
    assert.equal(stats.kCore, 5, 'raw Amazon data defaults to 5-core');
  });

  test('sequences are long enough and carry leave-one-out positions', async () => {
    const { sequences } = await readOutputs(out1);
    const items = lists(sequences, 'items');
    const lengths = column(sequences, 'length') as number[];
    const valid = column(sequences, 'valid_position') as number[];
    const testPos = column(sequences, 'test_position') as number[];
    assert.deepEqual(column(sequences, 'user_id'), items.map((_, i) => i));
    items.forEach((seq, u) => {
      assert.ok(seq.length >= 5, `user ${u} has ${seq.length} items`);
      assert.equal(lengths[u], seq.length);
      assert.equal(valid[u], seq.length - 2);
      assert.equal(testPos[u], seq.length - 1);
    });
    const times = lists(sequences, 'timestamps');
    times.forEach((t, u) => {
      assert.equal(t.length, items[u]!.length);
      for (let i = 1; i < t.length; i++) assert.ok(t[i - 1]! <= t[i]!, `user ${u} is not chronological`);
    });
  });

  test('item ids are 0..N-1 and every sequence item is one of them', async () => {
    const { items, sequences } = await readOutputs(out1);
    assert.deepEqual(column(items, 'item_id'), Array.from({ length: stats.items }, (_, i) => i));
    const used = new Set<number>();
    for (const seq of lists(sequences, 'items')) {
      for (const it of seq) {
        assert.ok(Number.isInteger(it) && it >= 0 && it < stats.items, `item id ${it}`);
        used.add(it);
      }
    }
    assert.equal(used.size, stats.items, 'every item in items.parquet is used by some sequence');
  });

  test('interactions.parquet is the sequences flattened, position by position', async () => {
    const { interactions, sequences } = await readOutputs(out1);
    const expected = lists(sequences, 'items').flatMap((seq, u) => seq.map((it, p) => [u, it, p]));
    const users = column(interactions, 'user_id');
    const items = column(interactions, 'item_id');
    const positions = column(interactions, 'position');
    assert.deepEqual(users.map((u, i) => [u, items[i], positions[i]]), expected);
  });

  test('the same input ingested twice gives byte-identical files', async () => {
    for (const name of INGEST_OUTPUTS) {
      const [a, b] = await Promise.all([readFile(path.join(out1, name)), readFile(path.join(out2, name))]);
      assert.ok(a.equals(b), `${name} differs between two runs`);
    }
  });

  test('titles are cleaned of HTML entities', async () => {
    const { items } = await readOutputs(out1);
    const titles = column(items, 'title') as string[];
    assert.ok(titles.some((t) => t.length > 0));
    for (const title of titles) {
      assert.doesNotMatch(title, /&(amp|quot|#\d+|lt|gt);/, title);
      assert.doesNotMatch(title, /<\/?\w+[^>]*>/, title);
    }
  });
});

describe('ingest of a hand-written Amazon 2014 dataset', () => {
  test('kCore 2 gives the exact expected sequences, item order and drop counts', async () => {
    const reviews: Review[] = [
      { reviewerID: 'U1', asin: 'B', unixReviewTime: 200 },
      { reviewerID: 'U1', asin: 'A', unixReviewTime: 100 },
      { reviewerID: 'U2', asin: 'A', unixReviewTime: 150 },
      { reviewerID: 'U1', asin: 'C', unixReviewTime: 300 },
      { reviewerID: 'U2', asin: 'C', unixReviewTime: 150 }, // same time as U2's A: file order
      { reviewerID: 'U2', asin: 'B', unixReviewTime: 400 },
      { reviewerID: 'U3', asin: 'E', unixReviewTime: 100 }, // E reviewed once: below k
      { reviewerID: 'U3', asin: 'A', unixReviewTime: 500 },
      { reviewerID: 'U3', asin: 'B', unixReviewTime: 600 },
      { reviewerID: 'U3', asin: 'C', unixReviewTime: 50 },
      { reviewerID: 'U1', asin: 'F', unixReviewTime: 50 }, // F has no metadata
      { reviewerID: 'U2', asin: 'A', unixReviewTime: 90 }, // repeat of U2's A, earlier: kept
      { reviewerID: 'U4', asin: 'D', unixReviewTime: 10 }, // D once; then U4 holds 1 item
      { reviewerID: 'U4', asin: 'A', unixReviewTime: 20 },
    ];
    const { dir } = await amazonDir('tiny', reviewLines(reviews), [
      meta('G', 'Never reviewed'),
      meta('C'),
      meta('A', 'Shampoo &amp; Conditioner'),
      meta('B'),
      meta('D'),
      meta('E'),
    ]);
    const out = path.join(dir, 'out');
    const stats = await ingest(dir, 'amazon2014', { ...SETTINGS, kCore: 2, minSequenceLength: 3 }, out);
    const { items, sequences, interactions } = await readOutputs(out);

    assert.deepEqual(column(sequences, 'source_user_id'), ['U1', 'U2', 'U3']);
    assert.deepEqual(column(items, 'source_id'), ['A', 'B', 'C']);
    assert.deepEqual(column(items, 'asin'), ['A', 'B', 'C']);
    assert.deepEqual(lists(sequences, 'items'), [
      [0, 1, 2], // U1: A B C (F dropped)
      [0, 2, 1], // U2: A(90) C(150) B(400)
      [2, 0, 1], // U3: C A B (E dropped by k-core)
    ]);
    assert.deepEqual(lists(sequences, 'timestamps'), [
      [100, 200, 300],
      [90, 150, 400],
      [50, 500, 600],
    ]);
    assert.deepEqual(column(interactions, 'timestamp').map(Number), [100, 200, 300, 90, 150, 400, 50, 500, 600]);
    assert.equal((column(items, 'title') as string[])[0], 'Shampoo & Conditioner.');
    assert.deepEqual(column(items, 'price'), [5, 5, 5]);

    assert.equal(stats.users, 3);
    assert.equal(stats.items, 3);
    assert.equal(stats.interactions, 9);
    assert.equal(stats.kCore, 2);
    assert.deepEqual(stats.dropped, { duplicates: 1, missingMetadata: 1, kCore: 3, shortSequences: 0 });
    assert.deepEqual(stats.source, { records: 14, metadataRecords: 6, users: 4, items: 6, itemsWithMetadata: 5 });
    assert.equal(stats.sourceIdsKept, false);
  });
});

describe('ingest of an LC-Rec dataset', () => {
  test('keeps the ids as given and applies no k-core by default', async () => {
    const dir = await freshDir('lcrec');
    // Users and items deliberately not in first-appearance order; item 4 occurs once.
    const inter = { '1': [2, 0, 1], '0': [1, 3, 2], '2': [3, 2, 0, 4] };
    const itemJson = Object.fromEntries(
      [0, 1, 2, 3, 4].map((i) => [String(i), { title: `Item ${i} &amp; co`, brand: 'Brand', categories: 'Beauty,Nails' }]),
    );
    await writeFile(path.join(dir, 'X.inter.json'), JSON.stringify(inter, null, 2));
    await writeFile(path.join(dir, 'X.item.json'), JSON.stringify(itemJson));
    const out = path.join(dir, 'out');
    const stats = await ingest(dir, 'lcrec', { ...SETTINGS, minSequenceLength: 3 }, out);
    const { items, sequences, interactions } = await readOutputs(out);

    assert.equal(stats.sourceIdsKept, true);
    assert.equal(stats.kCore, 0);
    assert.equal(stats.kCoreRounds, 0);
    assert.equal(stats.users, 3);
    assert.equal(stats.items, 5);
    assert.equal(stats.interactions, 10);
    assert.deepEqual(column(sequences, 'source_user_id'), ['0', '1', '2']);
    assert.deepEqual(lists(sequences, 'items'), [
      [1, 3, 2],
      [2, 0, 1],
      [3, 2, 0, 4],
    ]);
    assert.deepEqual(column(items, 'source_id'), ['0', '1', '2', '3', '4']);
    assert.deepEqual(column(items, 'title'), [0, 1, 2, 3, 4].map((i) => `Item ${i} & co.`));
    assert.equal(interactions.getChild('timestamp')!.nullCount, 10, 'LC-Rec data has no timestamps');
  });
});

describe('bad input', () => {
  /** `run` fails with a BadInputError naming every part, and `outDir` holds no file. */
  async function failsCleanly(run: () => Promise<unknown>, outDir: string, ...parts: string[]): Promise<void> {
    let caught: unknown;
    await assert.rejects(run(), (err: unknown) => {
      caught = err;
      return true;
    });
    assert.ok(caught instanceof BadInputError, `expected a BadInputError, got ${String((caught as Error)?.stack ?? caught)}`);
    for (const part of parts) assert.ok(caught.message.includes(part), `message should contain '${part}': ${caught.message}`);
    const left = existsSync(outDir) ? await readdir(outDir) : [];
    assert.deepEqual(left, [], 'no output may be written for bad input');
  }

  const good = (i: number): Review => ({ reviewerID: `U${i % 7}`, asin: `ITEM${i % 11}`, unixReviewTime: 1_300_000_000 + i * 86_400 });

  test('a truncated gzip reviews file names the file', async () => {
    const text = reviewLines(Array.from({ length: 400 }, (_, i) => ({ ...good(i), summary: `review ${i * 7919} ${'x'.repeat(i % 13)}` })));
    const whole = gzipSync(text);
    const { dir, reviewsFile } = await amazonDir('truncated', whole.subarray(0, whole.length >> 1), [meta('ITEM0')]);
    const out = path.join(dir, 'out');
    await failsCleanly(() => ingest(dir, 'amazon2014', SETTINGS, out), out, reviewsFile, 'gzip');
  });

  test('a review line that is not JSON names the file and line', async () => {
    const text = [JSON.stringify(good(1)), JSON.stringify(good(2)), '{"reviewerID": "U1", "asin": ', JSON.stringify(good(3))].join('\n');
    const { dir, reviewsFile } = await amazonDir('notjson', text, [meta('ITEM1')]);
    const out = path.join(dir, 'out');
    await failsCleanly(() => ingest(dir, 'amazon2014', SETTINGS, out), out, `${reviewsFile}:3`);
  });

  for (const [what, line] of [
    ['a function call', "__import__('os').system('x')"],
    ['a lambda', "{'asin': 'A1', 'title': (lambda: 1)}"],
  ] as const) {
    test(`a metadata line holding ${what} is refused, naming the meta file and line`, async () => {
      const { dir, metaFile } = await amazonDir('code', reviewLines([good(1), good(2)]), [meta('ITEM1'), line, meta('ITEM2')]);
      const out = path.join(dir, 'out');
      await failsCleanly(() => ingest(dir, 'amazon2014', SETTINGS, out), out, `${metaFile}:2`);
    });
  }

  for (const field of ['asin', 'reviewerID'] as const) {
    test(`a review without ${field} names the field and line`, async () => {
      const broken: Review = { ...good(2) };
      delete broken[field];
      const { dir, reviewsFile } = await amazonDir(`no-${field}`, reviewLines([good(1), broken]), [meta('ITEM1')]);
      const out = path.join(dir, 'out');
      await failsCleanly(() => ingest(dir, 'amazon2014', SETTINGS, out), out, `${reviewsFile}:2`, `field '${field}'`);
    });
  }

  test('an empty reviews file is named', async () => {
    const { dir, reviewsFile } = await amazonDir('empty', Buffer.alloc(0), [meta('ITEM1')]);
    const out = path.join(dir, 'out');
    await failsCleanly(() => ingest(dir, 'amazon2014', SETTINGS, out), out, reviewsFile, 'empty');

    const gz = await amazonDir('empty-gz', gzipSync(''), [meta('ITEM1')]);
    const gzOut = path.join(gz.dir, 'out');
    await failsCleanly(() => ingest(gz.dir, 'amazon2014', SETTINGS, gzOut), gzOut, gz.reviewsFile, 'empty');
  });

  test('an unknown format lists the valid ones', () => {
    assert.throws(
      () => assertFormat('amazon2099'),
      (err: unknown) => err instanceof BadInputError && err.message.includes("'amazon2099'") && err.message.includes('amazon2014, lcrec'),
    );
    assert.equal(assertFormat('lcrec'), 'lcrec');
  });

  test('a dataset where no user survives k-core says so', async () => {
    const reviews = ['U1', 'U2', 'U3'].flatMap((u, i) => [
      { reviewerID: u, asin: 'A', unixReviewTime: i },
      { reviewerID: u, asin: 'B', unixReviewTime: i + 1 },
    ]);
    const { dir, reviewsFile } = await amazonDir('nosurvivor', reviewLines(reviews), [meta('A'), meta('B')]);
    const out = path.join(dir, 'out');
    await failsCleanly(() => ingest(dir, 'amazon2014', { ...SETTINGS, kCore: 5 }, out), out, reviewsFile, 'no user survives', 'k-core 5');
  });

  test('a directory with two candidate reviews files lists both', async () => {
    const { dir } = await amazonDir('two', reviewLines([good(1)]), [meta('ITEM1')]);
    await writeFile(path.join(dir, 'reviews_Tiny.json.gz'), gzipSync(reviewLines([good(2)])));
    const out = path.join(dir, 'out');
    await failsCleanly(() => ingest(dir, 'amazon2014', SETTINGS, out), out, dir, 'reviews_Tiny.json.gz', 'reviews_Tiny_5.json.gz');
  });
});

describe('ingest of the real Amazon 2014 Beauty data (LC-Rec format)', () => {
  test('gives the published counts: 22,363 users, 12,101 items, 198,502 interactions', async (t) => {
    const base = process.env.LCREC_DATASETS;
    const dir = base === undefined ? undefined : path.join(base, 'amazon2014-beauty');
    if (dir === undefined || !existsSync(dir)) {
      t.skip(
        base === undefined
          ? 'LCREC_DATASETS not set: the real Beauty data is absent'
          : `${dir} does not exist: the real Beauty data is absent`,
      );
      return;
    }
    const out = path.join(root, 'beauty-out');
    const stats = await ingest(dir, 'lcrec', SETTINGS, out);
    assert.equal(stats.users, 22_363);
    assert.equal(stats.items, 12_101);
    assert.equal(stats.interactions, 198_502);
    assert.equal(stats.sourceIdsKept, true);
    const { sequences } = await readOutputs(out);
    assert.equal(sequences.numRows, 22_363);
  });
});
