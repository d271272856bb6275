/**
 * The bundled synthetic sample written out in each upstream layout ingestion reads (Amazon 2014
 * with Python-literal metadata, 2018 and 2023 JSON lines, RecBole atomic files, LC-Rec JSON), as
 * lines a test can corrupt one at a time before writing them. Uncorrupted, every layout ingests.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { writeSyntheticDataset, type SyntheticOptions } from '../../datasets/synthetic.js';
import { parsePythonLiteral } from '../../src/data/pyLiteral.js';

export interface SampleReview {
  reviewerID: string;
  asin: string;
  unixReviewTime: number;
}

/** The sample as Amazon 2014 lines (reviews JSON, metadata Python literals) and as records. */
export interface SampleSource {
  reviewLines: string[];
  metaLines: string[];
  reviews: SampleReview[];
  meta: Record<string, unknown>[];
}

export async function sampleSource(scratch: string, sample: SyntheticOptions): Promise<SampleSource> {
  await writeSyntheticDataset(scratch, sample);
  const lines = async (name: string) => gunzipSync(await readFile(join(scratch, name))).toString('utf8').split('\n').filter((l) => l !== '');
  const reviewLines = await lines(`reviews_${sample.category}_5.json.gz`);
  const metaLines = await lines(`meta_${sample.category}.json.gz`);
  return {
    reviewLines,
    metaLines,
    reviews: reviewLines.map((l) => JSON.parse(l) as SampleReview),
    meta: metaLines.map((l) => parsePythonLiteral(l) as Record<string, unknown>),
  };
}

/** One text file per name: `lines` joined with '\n' (a Buffer is written as given), gzipped when the name ends in .gz. */
export async function writeDataset(dir: string, files: Record<string, string[] | Buffer>): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const bytes = Buffer.isBuffer(content) ? content : Buffer.from(`${content.join('\n')}\n`, 'utf8');
    await writeFile(join(dir, name), name.endsWith('.gz') && !Buffer.isBuffer(content) ? gzipSync(bytes) : bytes);
  }
  return dir;
}

export function amazon2014Files(s: SampleSource, reviewLines = s.reviewLines, metaLines = s.metaLines): Record<string, string[]> {
  return { 'reviews_Beauty_5.json.gz': reviewLines, 'meta_Beauty.json.gz': metaLines };
}

/** 2018 5-core: the same review fields; metadata as JSON with `category` a flat list. */
export function amazon2018Files(s: SampleSource): Record<string, string[]> {
  const meta = s.meta.map(({ categories, ...rest }) => JSON.stringify({ ...rest, category: (categories as string[][])[0] ?? [] }));
  return { 'Beauty_5.json.gz': s.reviewLines, 'meta_Beauty.json.gz': meta };
}

/** 2023: `user_id`, `parent_asin`, `timestamp` in milliseconds; metadata keyed by `parent_asin`. */
export function amazon2023Files(s: SampleSource): Record<string, string[]> {
  const reviews = s.reviews.map((r) => JSON.stringify({ rating: 5, user_id: r.reviewerID, parent_asin: r.asin, timestamp: r.unixReviewTime * 1000 }));
  const meta = s.meta.map(({ asin, title, description, brand, categories }) =>
    JSON.stringify({ parent_asin: asin, title, description: description === undefined ? [] : [description], store: brand, categories: (categories as string[][])[0] ?? [] }),
  );
  return { 'All_Beauty.jsonl': reviews, 'meta_All_Beauty.jsonl': meta };
}

/** RecBole atomic files: a typed header, then tab-separated rows. */
export function recboleFiles(s: SampleSource): Record<string, string[]> {
  const inter = ['user_id:token\titem_id:token\ttimestamp:float', ...s.reviews.map((r) => `${r.reviewerID}\t${r.asin}\t${r.unixReviewTime}`)];
  const item = ['item_id:token\ttitle:token_seq', ...s.meta.map((m) => `${String(m.asin)}\t${String(m.title ?? '').replaceAll('\t', ' ')}`)];
  return { 'Beauty.inter': inter, 'Beauty.item': item };
}

/**
 * LC-Rec JSON: `{"<user>": [item indices, oldest first]}` and `{"<item>": {title, ...}}`, one
 * member per line, so that line numbers in errors point somewhere useful.
 */
export function lcrecFiles(s: SampleSource): Record<string, string[]> {
  const itemIndex = new Map<string, number>();
  const byUser = new Map<string, SampleReview[]>();
  for (const r of s.reviews) {
    if (!itemIndex.has(r.asin)) itemIndex.set(r.asin, itemIndex.size);
    byUser.set(r.reviewerID, [...(byUser.get(r.reviewerID) ?? []), r]);
  }
  const users = [...byUser.values()].map((rs, u) => `"${u}": ${JSON.stringify(rs.sort((a, b) => a.unixReviewTime - b.unixReviewTime).map((r) => itemIndex.get(r.asin)))}`);
  const metaByAsin = new Map(s.meta.map((m) => [m.asin as string, m]));
  const items = [...itemIndex].map(([asin, i]) => {
    const m = metaByAsin.get(asin) ?? {};
    return `"${i}": ${JSON.stringify({ title: m.title ?? '', description: m.description ?? '', brand: m.brand ?? '', categories: ((m.categories as string[][] | undefined)?.[0] ?? []).join(',') })}`;
  });
  const object = (members: string[]) => ['{', ...members.map((m, i) => (i < members.length - 1 ? `${m},` : m)), '}'];
  return { 'Beauty.inter.json': object(users), 'Beauty.item.json': object(items) };
}
