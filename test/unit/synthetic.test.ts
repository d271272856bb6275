import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { SAMPLE_PRESET, type SyntheticOptions, writeSyntheticDataset } from '../../datasets/synthetic.js';

const tmpDirs: string[] = [];
after(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

async function generate(opts: SyntheticOptions) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lcrec-synthetic-'));
  tmpDirs.push(dir);
  const t0 = performance.now();
  const result = await writeSyntheticDataset(dir, opts);
  return { ...result, ms: performance.now() - t0 };
}

let samplePromise: ReturnType<typeof generate> | undefined;
const sample = () => (samplePromise ??= generate(SAMPLE_PRESET));

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

async function gzLines(file: string): Promise<string[]> {
  const text = gunzipSync(await readFile(file)).toString('utf8');
  assert.ok(text.endsWith('\n'), `${file} should end with a newline`);
  return text.slice(0, -1).split('\n');
}

interface ReviewLine {
  reviewerID: string;
  asin: string;
  reviewerName?: string;
  helpful: [number, number];
  reviewText: string;
  overall: number;
  summary: string;
  unixReviewTime: number;
  reviewTime: string;
}

async function sampleReviews(): Promise<ReviewLine[]> {
  const s = await sample();
  return (await gzLines(s.reviewsFile)).map((l) => JSON.parse(l) as ReviewLine);
}

/** user -> asins, chronological, ties kept in file order (what the pipeline does) */
function sequences(reviews: ReviewLine[]): Map<string, string[]> {
  const byUser = new Map<string, Array<{ t: number; i: number; asin: string }>>();
  reviews.forEach((r, i) => {
    const list = byUser.get(r.reviewerID) ?? [];
    list.push({ t: r.unixReviewTime, i, asin: r.asin });
    byUser.set(r.reviewerID, list);
  });
  const out = new Map<string, string[]>();
  for (const [u, list] of byUser) out.set(u, list.sort((a, b) => a.t - b.t || a.i - b.i).map((x) => x.asin));
  return out;
}

function metaAsins(lines: string[]): Set<string> {
  const out = new Set<string>();
  for (const l of lines) {
    const m = /^\{'asin': '([0-9A-Z]{10})'/.exec(l);
    assert.ok(m, `meta line should start with the asin: ${l.slice(0, 80)}`);
    out.add(m[1] ?? '');
  }
  return out;
}

test('same options give byte-identical files; another seed gives different ones', async () => {
  const a = await sample();
  const b = await generate(SAMPLE_PRESET);
  const c = await generate({ ...SAMPLE_PRESET, seed: SAMPLE_PRESET.seed + 1 });
  assert.equal(path.basename(a.reviewsFile), 'reviews_Beauty_5.json.gz');
  assert.equal(path.basename(a.metaFile), 'meta_Beauty.json.gz');
  assert.equal(await sha256(a.reviewsFile), await sha256(b.reviewsFile));
  assert.equal(await sha256(a.metaFile), await sha256(b.metaFile));
  assert.notEqual(await sha256(a.reviewsFile), await sha256(c.reviewsFile));
  assert.notEqual(await sha256(a.metaFile), await sha256(c.metaFile));
  // gzip header: magic, deflate, no mtime (bytes 4-7 are zero)
  const head = (await readFile(a.reviewsFile)).subarray(0, 8);
  assert.deepEqual([...head], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
});

test('sample preset generates quickly and has the intended size', async () => {
  const s = await sample();
  assert.ok(s.ms < 5000, `generation took ${s.ms.toFixed(0)} ms`);
  assert.equal(s.users, SAMPLE_PRESET.users);
  assert.ok(s.reviews >= 4000 && s.reviews <= 7000, `reviews ${s.reviews}`);
  assert.ok(s.reviewedItems >= SAMPLE_PRESET.items * 0.95, `reviewed items ${s.reviewedItems}`);
  assert.ok(s.metaRecords >= SAMPLE_PRESET.items * 0.95, `meta records ${s.metaRecords}`);
});

test('every review line is JSON with the 2014 fields and day-granular timestamps', async () => {
  const s = await sample();
  const lines = await gzLines(s.reviewsFile);
  assert.equal(lines.length, s.reviews);
  for (const line of lines) {
    const r = JSON.parse(line) as ReviewLine;
    assert.match(r.reviewerID, /^A[0-9A-Z]{11,14}$/);
    assert.match(r.asin, /^[0-9A-Z]{10}$/);
    if (r.reviewerName !== undefined) assert.equal(typeof r.reviewerName, 'string');
    assert.ok(Array.isArray(r.helpful) && r.helpful.length === 2, line);
    assert.ok(Number.isInteger(r.helpful[0]) && Number.isInteger(r.helpful[1]) && r.helpful[0] <= r.helpful[1], line);
    assert.equal(typeof r.reviewText, 'string');
    assert.equal(typeof r.summary, 'string');
    assert.ok([1, 2, 3, 4, 5].includes(r.overall), line);
    assert.match(line, /"overall": [1-5]\.0,/); // written as a float, like the original files
    assert.ok(Number.isInteger(r.unixReviewTime) && r.unixReviewTime % 86_400 === 0, line);
    const d = new Date(r.unixReviewTime * 1000);
    assert.ok(d.getUTCFullYear() >= 2010 && d.getUTCFullYear() <= 2014, line);
    const expected = `${String(d.getUTCMonth() + 1).padStart(2, '0')} ${d.getUTCDate()}, ${d.getUTCFullYear()}`;
    assert.equal(r.reviewTime, expected);
  }
});

test('every meta line is a Python dict literal (not JSON)', async (t) => {
  const s = await sample();
  const lines = await gzLines(s.metaFile);
  assert.equal(lines.length, s.metaRecords);
  for (const l of lines) {
    assert.ok(l.startsWith("{'asin': '") && l.endsWith('}'), l.slice(0, 80));
    assert.throws(() => JSON.parse(l));
  }
  // the Python repr quirks are exercised: an escaped quote and a double-quoted string
  assert.ok(lines.some((l) => l.includes("\\'")), 'expected a title that needs an escaped single quote');
  assert.ok(lines.some((l) => l.includes(`"Women's"`)), 'expected a double-quoted category');
  try {
    execFileSync('python3', ['--version'], { stdio: 'ignore' });
  } catch {
    t.skip('python3 not available: skipped the ast.literal_eval check of the metadata file');
    return;
  }
  const out = execFileSync(
    'python3',
    ['-c', 'import ast,gzip,sys; r=[ast.literal_eval(l) for l in gzip.open(sys.argv[1],"rt")]; assert all(isinstance(x, dict) and "asin" in x for x in r); print(len(r))', s.metaFile],
    { encoding: 'utf8' },
  );
  assert.equal(Number(out.trim()), s.metaRecords);
});

test('the realism quirks are present', async () => {
  const s = await sample();
  const meta = await gzLines(s.metaFile);
  const reviews = await sampleReviews();
  const withMeta = metaAsins(meta);
  const reviewed = new Set(reviews.map((r) => r.asin));
  const frac = (pred: (l: string) => boolean) => meta.filter(pred).length / meta.length;

  assert.ok([...reviewed].some((a) => !withMeta.has(a)), 'some reviewed items have no metadata');
  assert.ok([...withMeta].some((a) => !reviewed.has(a)), 'some metadata records are for unreviewed items');
  const missingTitle = frac((l) => !l.includes("'title': "));
  const missingBrand = frac((l) => !l.includes("'brand': "));
  const missingDescription = frac((l) => !l.includes("'description': "));
  assert.ok(missingTitle > 0 && missingTitle < 0.08, `missing title ${missingTitle}`);
  assert.ok(missingBrand > 0.04 && missingBrand < 0.2, `missing brand ${missingBrand}`);
  assert.ok(missingDescription > 0.2 && missingDescription < 0.4, `missing description ${missingDescription}`);
  assert.ok(frac((l) => l.includes('&amp;')) > 0, 'HTML entities');
  assert.ok(frac((l) => l.includes('<br')) > 0, 'HTML tags');
  assert.ok(meta.every((l) => /'categories': \[\[/.test(l)), 'categories is a list of lists');

  const pairs = new Map<string, number>();
  for (const r of reviews) pairs.set(`${r.reviewerID}|${r.asin}`, (pairs.get(`${r.reviewerID}|${r.asin}`) ?? 0) + 1);
  const repeated = [...pairs.values()].filter((n) => n > 1).length;
  assert.ok(repeated >= 1 && repeated <= reviews.length * 0.01, `repeated (user, item) reviews: ${repeated}`);

  const days = new Map<string, number>();
  for (const r of reviews) days.set(`${r.reviewerID}|${r.unixReviewTime}`, (days.get(`${r.reviewerID}|${r.unixReviewTime}`) ?? 0) + 1);
  assert.ok([...days.values()].some((n) => n > 1), 'same-user same-day ties');
});

test('5-core filtering keeps most users and items and still has work to do', async () => {
  const s = await sample();
  const withMeta = metaAsins(await gzLines(s.metaFile));
  const seqs = sequences(await sampleReviews());
  // dedupe per user, drop items without metadata, then iterate the k-core (spec A.3)
  let inter: Array<[string, string]> = [];
  for (const [u, seq] of seqs) for (const a of new Set(seq)) if (withMeta.has(a)) inter.push([u, a]);
  const before = new Set(inter.map(([u]) => u)).size;
  for (;;) {
    const uc = new Map<string, number>();
    const ic = new Map<string, number>();
    for (const [u, a] of inter) {
      uc.set(u, (uc.get(u) ?? 0) + 1);
      ic.set(a, (ic.get(a) ?? 0) + 1);
    }
    const next = inter.filter(([u, a]) => (uc.get(u) ?? 0) >= 5 && (ic.get(a) ?? 0) >= 5);
    if (next.length === inter.length) break;
    inter = next;
  }
  const users = new Set(inter.map(([u]) => u)).size;
  const items = new Set(inter.map(([, a]) => a)).size;
  assert.ok(users < before, 'k-core should remove some users');
  assert.ok(users >= 400, `users after 5-core: ${users}`);
  assert.ok(items >= SAMPLE_PRESET.items * 0.8, `items after 5-core: ${items}`);
});

test('the next item is predictable from the previous one', async () => {
  const seqs = sequences(await sampleReviews());
  const users = [...seqs.keys()].sort();
  // learn "most common successor" on half the users, measure it on the other half
  const transitions = (us: string[]) => {
    const m = new Map<string, Map<string, number>>();
    for (const u of us) {
      const seq = seqs.get(u) ?? [];
      for (let i = 1; i < seq.length; i++) {
        const prev = seq[i - 1] ?? '';
        const inner = m.get(prev) ?? new Map<string, number>();
        inner.set(seq[i] ?? '', (inner.get(seq[i] ?? '') ?? 0) + 1);
        m.set(prev, inner);
      }
    }
    return m;
  };
  const train = transitions(users.filter((_, i) => i % 2 === 0));
  const heldOut = transitions(users.filter((_, i) => i % 2 === 1));
  const best = new Map<string, string>();
  for (const [prev, nexts] of train) {
    best.set(prev, [...nexts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? '');
  }
  let hits = 0;
  let total = 0;
  const popularity = new Map<string, number>();
  for (const [prev, nexts] of heldOut) {
    for (const [next, n] of nexts) {
      total += n;
      if (best.get(prev) === next) hits += n;
      popularity.set(next, (popularity.get(next) ?? 0) + n);
    }
  }
  const p = hits / total;
  const chance = Math.max(...popularity.values()) / total; // always guessing the most popular item
  assert.ok(p > 0.2, `P(next == most common successor of previous) = ${p.toFixed(3)}`);
  assert.ok(p > 5 * chance, `successor ${p.toFixed(3)} vs most-popular baseline ${chance.toFixed(3)}`);
});
