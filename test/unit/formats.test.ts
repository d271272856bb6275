import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { DatasetFormat } from '../../src/config/schema.js';
import { ITEMS_SCHEMA, SEQUENCES_SCHEMA } from '../../src/data/datasetTables.js';
import { detectFormat } from '../../src/data/detect.js';
import { ingest, type IngestSettings, type IngestStats } from '../../src/data/ingest.js';
import { BadInputError } from '../../src/errors.js';
import { readParquet } from '../../src/tables/parquet.js';

let root: string;
let counter = 0;
before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'lcrec-formats-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(label: string): Promise<string> {
  const dir = path.join(root, `${label}-${counter++}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

async function writeFiles(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [name, body] of Object.entries(files)) await writeFile(path.join(dir, name), name.endsWith('.gz') && typeof body === 'string' ? gzipSync(body) : body);
}

const SETTINGS: IngestSettings = { kCore: 2, dedupe: true, requireMetadata: true, minSequenceLength: 3 };

// One logical dataset, written below in every upstream format. In file order:
// U2 repeats A (dropped as a duplicate), E is reviewed once (dropped by 2-core),
// F has no metadata record (dropped), G has metadata but no review.
const REVIEWS: [user: string, item: string, seconds: number][] = [
  ['U1', 'A', 100], ['U2', 'B', 150], ['U1', 'B', 200], ['U3', 'C', 120], ['U2', 'A', 250], ['U1', 'C', 300],
  ['U3', 'D', 220], ['U2', 'C', 350], ['U3', 'A', 320], ['U1', 'D', 400], ['U3', 'E', 420], ['U2', 'A', 500],
  ['U1', 'F', 450],
];
const ITEMS = ['G', 'A', 'B', 'C', 'D', 'E'];
const asin = (item: string) => `B00000000${item}`;
// Ids by first appearance: users U1 U2 U3; items A B C D.
const EXPECTED_SEQUENCES = [[0, 1, 2, 3], [1, 0, 2], [2, 3, 0]];
const EXPECTED_TIMES = [[100, 200, 300, 400], [150, 250, 350], [120, 220, 320]];

// ---- writers in the exact upstream layouts -------------------------------------------------

/** Python's json.dumps spacing, as the McAuley-lab dumps use (", " and ": "). */
const pyJson = (value: unknown) => JSON.stringify(value).replace(/","/g, '", "').replace(/":/g, '": ').replace(/,"/g, ', "');

function review2018(user: string, item: string, seconds: number): string {
  return pyJson({
    overall: 5.0, verified: true, reviewTime: '06 17, 2018', reviewerID: user, asin: asin(item), style: { 'Gift Amount:': ' 50' },
    reviewerName: `name of ${user}`, reviewText: 'Great "gift", would buy again.\nReally.', summary: 'Five Stars', unixReviewTime: seconds,
  });
}

function meta2018(item: string): string {
  return pyJson({
    category: ['Gift Cards', `Cards &amp; ${item}`, '<span class="a-size-medium">x</span></span>', 'After debris'],
    tech1: '', description: [`<div>Card <b>${item}</b> &amp; more.</div>`, 'Second part.'], fit: '',
    title: `Gift Card ${item} &amp; Box`, also_buy: [], tech2: '', brand: `by\n    \n    Brand ${item}`, feature: [], rank: [],
    also_view: [], details: { 'ASIN: ': asin(item) }, main_cat: 'Grocery', similar_item: '', date: '', price: '$25.00', asin: asin(item),
    imageURL: [], imageURLHighRes: [],
  });
}

function review2023(user: string, item: string, seconds: number, variant = 1): string {
  return pyJson({
    rating: 5.0, title: 'Such a lovely scent', text: 'Nice.<br />Really.', images: [], asin: `${asin(item)}${variant}`, parent_asin: asin(item),
    user_id: user, timestamp: seconds * 1000 + 923, helpful_vote: 0, verified_purchase: true,
  });
}

function meta2023(item: string): string {
  return pyJson({
    main_category: 'All Beauty', title: `Lotion ${item}`, average_rating: 4.8, rating_number: 10, features: [], description: [`About ${item}.`],
    price: 12.5, images: [], videos: [], store: `Store ${item}`, categories: [], details: { 'Item Form': 'Cream' }, parent_asin: asin(item),
    bought_together: null,
  });
}

const lines = (rows: string[]) => rows.join('\n') + '\n';
const metaItems = ITEMS.filter((i) => i !== 'F');

const WRITERS: Record<string, (dir: string) => Promise<void>> = {
  'amazon2018 5-core JSON': (dir) =>
    writeFiles(dir, {
      'Gift_Cards_5.json.gz': lines(REVIEWS.map(([u, i, t]) => review2018(u, i, t))),
      'meta_Gift_Cards.json.gz': lines(metaItems.map(meta2018)),
    }),
  'amazon2018 rating CSV': (dir) =>
    writeFiles(dir, {
      'Gift_Cards.csv': lines(REVIEWS.map(([u, i, t]) => `${asin(i)},${u},5.0,${t}`)),
      'meta_Gift_Cards.json.gz': lines(metaItems.map(meta2018)),
    }),
  'amazon2023 review JSON lines': (dir) =>
    writeFiles(dir, {
      // Two variants (asin) of one product (parent_asin) are one item.
      'All_Beauty.jsonl.gz': lines(REVIEWS.map(([u, i, t], n) => review2023(u, i, t, n % 2))),
      'meta_All_Beauty.jsonl.gz': lines(metaItems.map(meta2023)),
    }),
  'amazon2023 5-core CSV': (dir) =>
    writeFiles(dir, {
      'All_Beauty.csv.gz': lines(['user_id,parent_asin,rating,timestamp', ...REVIEWS.map(([u, i, t]) => `${u},${asin(i)},5.0,${t * 1000 + 923}`)]),
      'meta_All_Beauty.jsonl.gz': lines(metaItems.map(meta2023)),
    }),
  'RecBole atomic': (dir) =>
    writeFiles(dir, {
      'Amazon_Gift.inter': lines(['user_id:token\titem_id:token\trating:float\ttimestamp:float', ...REVIEWS.map(([u, i, t]) => `${u}\t${asin(i)}\t5.0\t${t}.0`)]),
      'Amazon_Gift.item': lines([
        'item_id:token\ttitle:token\tsales_type:token\tsales_rank:float\tcategories:token_seq\tprice:float\tbrand:token',
        ...metaItems.map((i) => `${asin(i)}\tGift Card ${i} &amp; Box\tBeauty\t10486.0\t"'Beauty', ""Women's"", 'Cards, ${i}'"\t25.0\tBrand ${i}`),
      ]),
    }),
};

async function outputs(out: string) {
  const sequences = await readParquet(path.join(out, 'sequences.parquet'), SEQUENCES_SCHEMA);
  const items = await readParquet(path.join(out, 'items.parquet'), ITEMS_SCHEMA);
  const list = (name: 'items' | 'timestamps') =>
    Array.from({ length: sequences.numRows }, (_, i) => Array.from((sequences.getChild(name)!.get(i) as { toArray(): ArrayLike<number | bigint> }).toArray(), Number));
  const col = (name: keyof typeof ITEMS_SCHEMA) => Array.from({ length: items.numRows }, (_, i) => items.getChild(name)!.get(i));
  return { list, col, users: Array.from({ length: sequences.numRows }, (_, i) => sequences.getChild('source_user_id')!.get(i)) };
}

describe('every reader gives the same sequences for the same data', () => {
  for (const [name, write] of Object.entries(WRITERS)) {
    test(name, async () => {
      const dir = await freshDir(name.replace(/\W+/g, '-'));
      await write(dir);
      const detected = await detectFormat(dir);
      const out = path.join(dir, 'out');
      const stats = await ingest(dir, undefined, SETTINGS, out);
      assert.equal(stats.format, detected.format);
      const { list, col, users } = await outputs(out);
      assert.deepEqual(users, ['U1', 'U2', 'U3']);
      assert.deepEqual(list('items'), EXPECTED_SEQUENCES);
      assert.deepEqual(list('timestamps'), EXPECTED_TIMES, 'whole Unix seconds, milliseconds floored');
      assert.deepEqual(col('source_id'), ['A', 'B', 'C', 'D'].map(asin));
      assert.deepEqual(stats.dropped, { duplicates: 1, missingMetadata: 1, kCore: 1, shortSequences: 0 });
      assert.deepEqual(stats.source, { records: 13, metadataRecords: 6, users: 3, items: 6, itemsWithMetadata: 5 });
    });
  }
});

describe('metadata of each release is cleaned the same way', () => {
  test('2018: description list, "by\\n" brand, category up to the HTML debris, "$" price', async () => {
    const dir = await freshDir('meta2018');
    await WRITERS['amazon2018 5-core JSON']!(dir);
    const out = path.join(dir, 'out');
    await ingest(dir, 'amazon2018', SETTINGS, out);
    const { col } = await outputs(out);
    assert.equal(col('title')[0], 'Gift Card A & Box.');
    assert.equal(col('description')[0], 'Card A & more. Second part.');
    assert.equal(col('brand')[0], 'Brand A');
    assert.equal(col('categories')[0], 'Gift Cards,Cards & A');
    assert.equal(col('price')[0], 25);
    assert.equal(col('asin')[0], asin('A'));
  });

  test('2023: store as brand, main_category when categories is empty, numeric price', async () => {
    const dir = await freshDir('meta2023');
    await WRITERS['amazon2023 review JSON lines']!(dir);
    const out = path.join(dir, 'out');
    await ingest(dir, 'amazon2023', SETTINGS, out);
    const { col } = await outputs(out);
    assert.deepEqual([col('title')[1], col('brand')[1], col('categories')[1], col('description')[1], col('price')[1]], [
      'Lotion B.', 'Store B', 'All Beauty', 'About B.', 12.5,
    ]);
  });

  test('RecBole .item: quoted token_seq categories become a comma-joined path', async () => {
    const dir = await freshDir('recbole-item');
    await WRITERS['RecBole atomic']!(dir);
    const out = path.join(dir, 'out');
    await ingest(dir, 'recbole', SETTINGS, out);
    const { col } = await outputs(out);
    assert.equal(col('categories')[0], "Beauty,Women's,Cards, A");
    assert.equal(col('title')[0], 'Gift Card A & Box.');
    assert.equal(col('brand')[0], 'Brand A');
  });

  test('RecBole without .item and without a timestamp column: file order, no metadata filter', async () => {
    const dir = await freshDir('recbole-bare');
    await writeFiles(dir, { 'ml.inter': lines(['item_id:token\tuser_id:token', 'i3\tu1', 'i1\tu1', 'i2\tu1', 'i1\tu2', 'i3\tu2', 'i2\tu2']) });
    const out = path.join(dir, 'out');
    const stats = await ingest(dir, 'recbole', { ...SETTINGS, kCore: 0 }, out);
    const { list, col } = await outputs(out);
    assert.deepEqual(list('items'), [[0, 1, 2], [1, 0, 2]]);
    assert.deepEqual(col('asin'), [null, null, null], 'no metadata: null asin, empty text');
    assert.deepEqual(col('title'), ['', '', '']);
    assert.equal(stats.dropped.missingMetadata, 0);
    assert.equal(stats.tieBreak, 'source order (no timestamps)');
  });
});

describe('RecBole / UniSRec sequential splits', () => {
  // LC-Rec's convert_to_atomic_files: per user, train rows for target_idx 1..n-3 taken from the
  // END (last target first), histories capped (50 there, 3 here), then one valid and one test row.
  function splitFiles(sequences: Record<string, string[]>, cap: number) {
    const header = 'user_id:token\titem_id_list:token_seq\titem_id:token';
    const train = [header];
    const valid = [header];
    const test = [header];
    for (const [user, seq] of Object.entries(sequences)) {
      const t = seq.slice(0, -2);
      for (let back = 1; back < t.length; back++) train.push(`${user}\t${t.slice(0, -back).slice(-cap).join(' ')}\t${t[t.length - back]}`);
      valid.push(`${user}\t${seq.slice(0, -2).slice(-cap).join(' ')}\t${seq[seq.length - 2]}`);
      test.push(`${user}\t${seq.slice(0, -1).slice(-cap).join(' ')}\t${seq[seq.length - 1]}`);
    }
    return { 'Games.train.inter': lines(train), 'Games.valid.inter': lines(valid), 'Games.test.inter': lines(test) };
  }

  test('rebuilds the full sequences from capped, reverse-ordered rows and keeps 0-based ids', async () => {
    const sequences = { '0': ['0', '1', '2', '3', '4', '5', '1', '6'], '1': ['2', '0', '3'], '2': ['4', '5', '6', '0', '2'] };
    const dir = await freshDir('splits');
    await writeFiles(dir, {
      ...splitFiles(sequences, 3),
      'Games.item': lines(['item_id:token\ttitle:token', ...['0', '1', '2', '3', '4', '5', '6'].map((i) => `${i}\tGame ${i}`)]),
    });
    const out = path.join(dir, 'out');
    const stats = await ingest(dir, undefined, { ...SETTINGS, kCore: null, dedupe: false }, out);
    assert.equal(stats.format, 'recbole-splits');
    assert.equal(stats.kCore, 0, 'splits arrive filtered');
    assert.equal(stats.sourceIdsKept, true);
    const { list, col } = await outputs(out);
    assert.deepEqual(list('items'), Object.values(sequences).map((s) => s.map(Number)));
    assert.deepEqual(col('title'), ['0', '1', '2', '3', '4', '5', '6'].map((i) => `Game ${i}.`));
  });

  test('rows that do not chain into one sequence name a row', async () => {
    const dir = await freshDir('splits-bad');
    const files = splitFiles({ u: ['a', 'b', 'c', 'd', 'e'] }, 10);
    files['Games.test.inter'] = lines(['user_id:token\titem_id_list:token_seq\titem_id:token', 'u\ta b x d\te']);
    await writeFiles(dir, files);
    const out = path.join(dir, 'out');
    await failsCleanly(() => ingest(dir, 'recbole-splits', SETTINGS, out), out, 'Games.test.inter:2', 'do not form one sequence');
  });
});

describe('Amazon 2023 benchmark splits (5core/last_out, 5core/timestamp, with or without history)', () => {
  type Row = [user: string, item: string, ms: number];
  // The upstream scripts (AmazonReviews2023 benchmark_scripts/last_out_split.py, timestamp_split.py):
  // each user's rating-only rows in first-appearance order of users, sorted stably by timestamp,
  // repeats of an item dropped; lines `user,parent_asin,rating,timestamp[,history]`.
  const ratingOnly: Row[] = REVIEWS.map(([u, i, t]) => [u, asin(i), t * 1000 + 923]);
  function ordered(rows: Row[]): Map<string, Row[]> {
    const byUser = new Map<string, Row[]>();
    for (const row of rows) byUser.set(row[0], [...(byUser.get(row[0]) ?? []), row]);
    for (const [user, list] of byUser) {
      const seen = new Set<string>();
      byUser.set(user, [...list].sort((a, b) => a[2] - b[2]).filter(([, item]) => !seen.has(item) && seen.add(item)));
    }
    return byUser;
  }
  const line = (history: boolean) => (rows: Row[], k: number) =>
    `${rows[k]![0]},${rows[k]![1]},5.0,${rows[k]![2]}${history ? `,${rows.slice(0, k).map((r) => r[1]).join(' ')}` : ''}`;
  function lastOut(history: boolean): Record<'train' | 'valid' | 'test', string[]> {
    const out = { train: [] as string[], valid: [] as string[], test: [] as string[] };
    for (const rows of ordered(ratingOnly).values()) {
      const write = line(history);
      out.test.push(write(rows, rows.length - 1));
      if (rows.length > 1) out.valid.push(write(rows, rows.length - 2));
      for (let k = 0; k < rows.length - 2; k++) out.train.push(write(rows, k));
    }
    return out;
  }
  function byTime(history: boolean, validFrom: number, testFrom: number): Record<'train' | 'valid' | 'test', string[]> {
    const out = { train: [] as string[], valid: [] as string[], test: [] as string[] };
    for (const rows of ordered(ratingOnly).values()) {
      rows.forEach((row, k) => out[row[2] >= testFrom ? 'test' : row[2] >= validFrom ? 'valid' : 'train'].push(line(history)(rows, k)));
    }
    return out;
  }
  async function writeSplits(dir: string, splits: Record<'train' | 'valid' | 'test', string[]>, history: boolean, ext: string): Promise<void> {
    const header = `user_id,parent_asin,rating,timestamp${history ? ',history' : ''}`;
    await writeFiles(dir, {
      [`All_Beauty.train${ext}`]: lines([header, ...splits.train]),
      [`All_Beauty.valid${ext}`]: lines([header, ...splits.valid]),
      [`All_Beauty.test${ext}`]: lines([header, ...splits.test]),
      'meta_All_Beauty.jsonl': lines(metaItems.map(meta2023)),
    });
  }

  /** The rating-only CSV of the same (already deduplicated) interactions: what the splits must equal. */
  let reference: string;
  before(async () => {
    const dir = await freshDir('splits23-reference');
    const deduped = ratingOnly.filter(([u, i, t]) => ordered(ratingOnly).get(u)!.some((r) => r[1] === i && r[2] === t));
    await writeFiles(dir, {
      'All_Beauty.csv': lines(['user_id,parent_asin,rating,timestamp', ...deduped.map(([u, i, t]) => `${u},${i},5.0,${t}`)]),
      'meta_All_Beauty.jsonl': lines(metaItems.map(meta2023)),
    });
    reference = path.join(dir, 'out');
    await ingest(dir, 'amazon2023', SETTINGS, reference);
  });

  const variants: [string, () => Record<'train' | 'valid' | 'test', string[]>, boolean, string][] = [
    ['last_out_w_his (gzip)', () => lastOut(true), true, '.csv.gz'],
    ['last_out', () => lastOut(false), false, '.csv'],
    ['timestamp_w_his', () => byTime(true, 300_000, 400_000), true, '.csv'],
  ];
  for (const [name, splits, history, ext] of variants) {
    test(`${name}: detected, and the same four files as the rating-only CSV`, async () => {
      const dir = await freshDir(`splits23-${name.replace(/\W+/g, '-')}`);
      await writeSplits(dir, splits(), history, ext);
      const detected = await detectFormat(dir);
      assert.equal(detected.format, 'amazon2023');
      assert.deepEqual(Object.keys(detected.files), ['reviews', 'valid', 'test', 'meta']);
      assert.match(detected.files.reviews!, /All_Beauty\.train\.csv/);
      const out = path.join(dir, 'out');
      const stats = await ingest(dir, undefined, SETTINGS, out);
      assert.equal(stats.source.records, 12);
      for (const file of ['interactions.parquet', 'items.parquet', 'sequences.parquet', 'stats.json']) {
        assert.deepEqual(await readFile(path.join(out, file)), await readFile(path.join(reference, file)), file);
      }
    });
  }

  test('a history that disagrees with the time order names the row; nothing is written', async () => {
    const splits = lastOut(true);
    // U1's third train row claims one earlier item instead of two.
    splits.train[2] = splits.train[2]!.replace(/,([^,]*) ([^,]*)$/, ',$2');
    const dir = await freshDir('splits23-short-history');
    await writeSplits(dir, splits, true, '.csv');
    const out = path.join(dir, 'out');
    await failsCleanly(() => ingest(dir, undefined, SETTINGS, out), out, `${path.join(dir, 'All_Beauty.train.csv')}:4`, 'history', 'lists 1 earlier items', 'interaction 3 of user "U1"');

    const swapped = lastOut(true);
    // U2's valid row names the wrong previous item.
    const row = swapped.valid.findIndex((l) => l.startsWith('U2,'));
    swapped.valid[row] = swapped.valid[row]!.replace(/[^, ]+$/, asin('D'));
    const dir2 = await freshDir('splits23-wrong-history');
    await writeSplits(dir2, swapped, true, '.csv');
    const out2 = path.join(dir2, 'out');
    await failsCleanly(() => ingest(dir2, undefined, SETTINGS, out2), out2, `${path.join(dir2, 'All_Beauty.valid.csv')}:${row + 2}`, `ends with "${asin('D')}"`, `is "${asin('B')}"`);
  });
});

describe('gzip members', () => {
  test('a line split across two gzip members reads as one line', async () => {
    const dir = await freshDir('members');
    const text = lines(REVIEWS.map(([u, i, t]) => review2018(u, i, t)));
    const cut = text.indexOf('reviewText', text.length >> 1);
    await writeFiles(dir, {
      'Gift_Cards_5.json.gz': Buffer.concat([gzipSync(text.slice(0, cut)), gzipSync(text.slice(cut))]),
      'meta_Gift_Cards.json.gz': lines(metaItems.map(meta2018)),
    });
    const stats = await ingest(dir, 'amazon2018', SETTINGS, path.join(dir, 'out'));
    assert.equal(stats.source.records, REVIEWS.length);
  });
});

/** `run` fails with a BadInputError naming every part, and `outDir` holds nothing. */
async function failsCleanly(run: () => Promise<unknown>, outDir: string, ...parts: string[]): Promise<BadInputError> {
  let caught: unknown;
  await assert.rejects(run(), (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof BadInputError, `expected a BadInputError, got ${String((caught as Error)?.stack ?? caught)}`);
  for (const part of parts) assert.ok(caught.message.includes(part), `message should contain '${part}': ${caught.message}`);
  const left = existsSync(outDir) ? await readdir(outDir) : [];
  assert.deepEqual(left, [], 'no output may be written for bad input');
  return caught;
}

describe('bad input names the file, line and field; nothing is written', () => {
  const meta18 = lines(metaItems.map(meta2018));
  const cases: [string, DatasetFormat, Record<string, string | Buffer>, string[]][] = [
    ['a rating CSV row with 5 columns', 'amazon2018', { 'X.csv': `${asin('A')},U1,5.0,100\n${asin('B')},U1,5.0,200,extra\n`, 'meta_X.json.gz': meta18 }, ['X.csv:2', 'expected 4 columns, found 5']],
    ['a rating CSV with a header line', 'amazon2018', { 'X.csv': `item,user,rating,timestamp\n${asin('A')},U1,5.0,100\n`, 'meta_X.json.gz': meta18 }, ['X.csv:1', 'no header line']],
    ['a rating CSV timestamp that is not a number', 'amazon2018', { 'X.csv': `${asin('A')},U1,5.0,100\n${asin('B')},U1,5.0,12-01-2018\n`, 'meta_X.json.gz': meta18 }, ['X.csv:2', "field 'timestamp'", 'not a number']],
    ['a 2023 CSV timestamp that is not a number', 'amazon2023', { 'X.csv': 'user_id,parent_asin,rating,timestamp\nU1,B1,5.0,1589665266052\nU1,B2,5.0,soon\n', 'meta_X.jsonl': meta2023('A') }, ['X.csv:3', "field 'timestamp'"]],
    ['a 2023 CSV row with 3 columns', 'amazon2023', { 'X.csv': 'user_id,parent_asin,rating,timestamp\nU1,B1,5.0\n', 'meta_X.jsonl': meta2023('A') }, ['X.csv:2', 'expected 4 columns, found 3']],
    ['a 2023 review line without parent_asin', 'amazon2023', { 'X.jsonl': `${review2023('U1', 'A', 1)}\n${review2023('U1', 'B', 2).replace('"parent_asin"', '"parent"')}\n`, 'meta_X.jsonl': meta2023('A') }, ['X.jsonl:2', "field 'parent_asin'", 'missing']],
    ['a 2023 metadata line without parent_asin', 'amazon2023', { 'X.jsonl': `${review2023('U1', 'A', 1)}\n`, 'meta_X.jsonl': `${meta2023('A')}\n{"title": "no key"}\n` }, ['meta_X.jsonl:2', "field 'parent_asin'"]],
    ['an .inter header without item_id', 'recbole', { 'D.inter': 'user_id:token\titem:token\ttimestamp:float\nu\ti\t1\n' }, ['D.inter:1', 'item_id', 'missing']],
    ['an .inter row with a missing column', 'recbole', { 'D.inter': 'user_id:token\titem_id:token\ttimestamp:float\nu\ti\t1\nu\tj\n' }, ['D.inter:3', 'expected 3']],
    ['split files without item_id_list', 'recbole-splits', { 'D.train.inter': 'user_id:token\titem_id:token\nu\ti\n', 'D.valid.inter': 'user_id:token\titem_id:token\n', 'D.test.inter': 'user_id:token\titem_id:token\n' }, ['D.train.inter:1', 'item_id_list']],
    ['a reviews file whose gzip ends mid-line (complete member)', 'amazon2018', { 'X_5.json.gz': gzipSync(`${review2018('U1', 'A', 1)}\n${review2018('U1', 'B', 2).slice(0, 60)}`), 'meta_X.json.gz': meta18 }, ['X_5.json.gz:2', 'not a JSON review line']],
  ];
  for (const [what, format, files, parts] of cases) {
    test(what, async () => {
      const dir = await freshDir('bad');
      await writeFiles(dir, files);
      const out = path.join(dir, 'out');
      await failsCleanly(() => ingest(dir, format, SETTINGS, out), out, ...parts.map((p) => (p.includes(':') && !p.startsWith('field') ? path.join(dir, p) : p)));
    });
  }

  test('a gzip stream cut off in the middle of a line names the file', async () => {
    const dir = await freshDir('cut');
    const whole = gzipSync(lines(Array.from({ length: 300 }, (_, n) => review2018(`U${n % 9}`, ITEMS[n % 6]!, n))));
    await writeFiles(dir, { 'X_5.json.gz': whole.subarray(0, whole.length - 40), 'meta_X.json.gz': lines(metaItems.map(meta2018)) });
    const out = path.join(dir, 'out');
    await failsCleanly(() => ingest(dir, 'amazon2018', SETTINGS, out), out, path.join(dir, 'X_5.json.gz'), 'truncated or corrupt gzip');
  });
});

describe('format detection', () => {
  test('a headerless CSV is 2018, one with the 2023 header is 2023', async () => {
    const d18 = await freshDir('detect18');
    await WRITERS['amazon2018 rating CSV']!(d18);
    assert.equal((await detectFormat(d18)).format, 'amazon2018');
    const d23 = await freshDir('detect23');
    await writeFiles(d23, { 'Gift_Cards.csv': 'user_id,parent_asin,rating,timestamp\nU1,B1,5.0,1\n', 'meta_Gift_Cards.jsonl': meta2023('A') });
    assert.equal((await detectFormat(d23)).format, 'amazon2023');
  });

  test('a directory that fits two formats is refused, naming both and --format', async () => {
    const dir = await freshDir('ambiguous');
    await writeFiles(dir, {
      'reviews_Beauty_5.json.gz': lines([review2018('U1', 'A', 1)]),
      'meta_Beauty.json.gz': `{'asin': '${asin('A')}'}\n`,
      'Beauty.inter.json': '{"0": [0, 1, 2]}',
      'Beauty.item.json': '{"0": {"title": "x"}}',
    });
    const out = path.join(dir, 'out');
    const err = await failsCleanly(() => ingest(dir, undefined, SETTINGS, out), out, dir, 'ambiguous', 'amazon2014', 'lcrec', '--format');
    assert.doesNotMatch(err.message, /recbole/);
  });

  test('a directory that fits no format says what it looked for', async () => {
    const dir = await freshDir('none');
    await writeFiles(dir, { 'notes.txt': 'hello\n' });
    await assert.rejects(detectFormat(dir), (err: unknown) => err instanceof BadInputError && /cannot tell the dataset format/.test(err.message) && err.message.includes('--format') && !err.message.includes('Incomplete'));
    // Reviews without their metadata: the missing sibling is named.
    await writeFiles(dir, { 'Toys_5.json.gz': lines([review2018('U1', 'A', 1)]) });
    await assert.rejects(detectFormat(dir), (err: unknown) => err instanceof BadInputError && err.message.includes('Incomplete: amazon2018: no meta file for Toys_5.json.gz'));
  });
});

describe('the real Amazon 2018 Gift Cards files', () => {
  test('453 users, 147 items, 2,941 interactions after dedupe and 5-core', async (t) => {
    const dir = process.env.LCREC_DATASETS && path.join(process.env.LCREC_DATASETS, 'amazon2018-gift-cards-raw');
    if (!dir || !existsSync(dir)) {
      t.skip('LCREC_DATASETS not set or without amazon2018-gift-cards-raw');
      return;
    }
    assert.equal((await detectFormat(dir)).format, 'amazon2018');
    const out = path.join(root, 'gift-cards');
    const stats: IngestStats = await ingest(dir, 'amazon2018', { kCore: null, dedupe: true, requireMetadata: true, minSequenceLength: 5 }, out);
    assert.deepEqual([stats.users, stats.items, stats.interactions], [453, 147, 2941]);
    assert.deepEqual(stats.source, { records: 2972, metadataRecords: 1547, users: 458, items: 148, itemsWithMetadata: 148 });
    assert.deepEqual(stats.dropped, { duplicates: 7, missingMetadata: 0, kCore: 24, shortSequences: 0 });
    assert.equal(JSON.parse(await readFile(path.join(out, 'stats.json'), 'utf8')).format, 'amazon2018');
  });
});
