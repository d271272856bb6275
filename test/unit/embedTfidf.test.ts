import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BadInputError } from '../../src/errors.js';
import { chunkFileName, encodeInChunks } from '../../src/embed/chunks.js';
import { DEFAULT_TFIDF_SETTINGS, encodeTfidf, tfidfMatrix } from '../../src/embed/tfidf.js';
import type { ItemTextFields, TfidfSettings } from '../../src/embed/tfidf.js';
import { tokenize } from '../../src/embed/tokenize.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lcrec-embed-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const item = (title: string, brand = '', categories = '', description = ''): ItemTextFields => ({ title, brand, categories, description });

/** A small catalogue with families of similar products. */
function catalogue(): ItemTextFields[] {
  return [
    item('OPI Nail Lacquer, Red Hot Rio.', 'OPI', 'Beauty,Makeup,Nails,Nail Polish'),
    item('OPI Nail Lacquer, Big Apple Red.', 'OPI', 'Beauty,Makeup,Nails,Nail Polish'),
    item('Essie Nail Polish, Ballet Slippers.', 'Essie', 'Beauty,Makeup,Nails,Nail Polish'),
    item('Cococare Coconut Oil 100% Pure 4 Oz.', 'Cococare', 'Beauty,Skin Care,Body,Moisturizers,Oils'),
    item('Viva Naturals Organic Coconut Oil 16 Oz.', 'Viva Naturals', 'Beauty,Skin Care,Body,Moisturizers,Oils'),
    item('Maybelline Great Lash Mascara, Blackest Black.', 'Maybelline', 'Beauty,Makeup,Eyes,Mascara'),
    item('Maybelline Lash Sensational Mascara, Black.', 'Maybelline', 'Beauty,Makeup,Eyes,Mascara'),
    item('Conair Hair Dryer 1875 Watt.', 'Conair', 'Beauty,Hair Care,Styling Tools,Hair Dryers'),
    item('Revlon Hair Dryer Volumizer.', 'Revlon', 'Beauty,Hair Care,Styling Tools,Hair Dryers'),
    item('', '', '', ''), // no text at all
  ];
}

const settings = (over: Partial<TfidfSettings> = {}): TfidfSettings => ({ ...DEFAULT_TFIDF_SETTINGS, dim: 256, minDf: 1, chunkSize: 3, ...over });

function cosine(e: Float32Array, dim: number, a: number, b: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) s += (e[a * dim + j] as number) * (e[b * dim + j] as number);
  return s;
}

test('tokenize: lower case, Unicode words, NFKC, CJK characters, minimum length', () => {
  assert.deepEqual(tokenize("Dr. Scholl's 0.5-Fluid Ounce"), ['dr', 'scholl', 'fluid', 'ounce']);
  assert.deepEqual(tokenize('Crème BRÛLÉE Straße'), ['crème', 'brûlée', 'straße']);
  assert.deepEqual(tokenize('ＡＢＣ ｘ２'), ['abc', 'x2']); // full-width forms fold to ASCII
  assert.deepEqual(tokenize('資生堂 Shiseido化粧水'), ['資', '生', '堂', 'shiseido', '化', '粧', '水']);
  assert.deepEqual(tokenize('a b 2 pack', 1), ['a', 'b', '2', 'pack']);
  assert.deepEqual(tokenize(''), []);
});

test('tf-idf matches the sklearn definition (sublinear tf, smooth idf, l2 rows)', () => {
  const items = [item('apple apple banana'), item('banana cherry'), item('cherry')];
  const m = tfidfMatrix(items, settings({ fieldWeights: { title: 1, brand: 1, categories: 1, description: 1 } }));
  assert.deepEqual(m.terms, ['apple', 'banana', 'cherry']);
  assert.deepEqual([...m.df], [1, 2, 2]);
  const idf = (df: number) => Math.log(4 / (1 + df)) + 1;
  assert.ok(Math.abs((m.idf[0] as number) - idf(1)) < 1e-12);
  // Row 0: apple tf 2 -> 1 + ln 2, banana tf 1 -> 1.
  const a = (1 + Math.log(2)) * idf(1);
  const b = idf(2);
  const norm = Math.hypot(a, b);
  assert.deepEqual([...m.termIds.subarray(0, 2)], [0, 1]);
  assert.ok(Math.abs((m.values[0] as number) - a / norm) < 1e-12);
  assert.ok(Math.abs((m.values[1] as number) - b / norm) < 1e-12);
  // minDf 2 drops apple; field weight 0 drops the field.
  assert.deepEqual(tfidfMatrix(items, settings({ minDf: 2 })).terms, ['banana', 'cherry']);
  const weighted = tfidfMatrix([item('alpha', 'beta'), item('alpha', 'beta')], settings({ fieldWeights: { title: 1, brand: 0, categories: 1, description: 1 } }));
  assert.deepEqual(weighted.terms, ['alpha']);
});

test('similar titles end up closer than unrelated items; rows are unit length; empty items are zero', async () => {
  const items = catalogue();
  const dim = 256;
  const r = await encodeTfidf(items, settings(), { seed: 7 });
  assert.equal(r.embeddings.length, items.length * dim);
  for (let i = 0; i < items.length - 1; i++) assert.ok(Math.abs(cosine(r.embeddings, dim, i, i) - 1) < 1e-5, `row ${i} is unit length`);
  assert.equal(cosine(r.embeddings, dim, 9, 9), 0);
  assert.equal(r.stats.emptyItems, 1);
  const pairs: Array<[number, number]> = [[0, 1], [3, 4], [5, 6], [7, 8]];
  for (const [a, b] of pairs) {
    const near = cosine(r.embeddings, dim, a, b);
    for (let c = 0; c < items.length - 1; c++) {
      if (c === a || c === b) continue;
      const far = cosine(r.embeddings, dim, a, c);
      if (items[c]!.categories === items[a]!.categories) continue; // same family: may be close too
      assert.ok(near > far + 0.1, `items ${a},${b} (${near.toFixed(3)}) should be closer than ${a},${c} (${far.toFixed(3)})`);
    }
  }
});

test('same seed, same bytes; another seed, other vectors', async () => {
  const items = catalogue();
  const a = await encodeTfidf(items, settings(), { seed: 11 });
  const b = await encodeTfidf(items, settings(), { seed: 11 });
  const c = await encodeTfidf(items, settings(), { seed: 12 });
  assert.deepEqual(Buffer.from(a.embeddings.buffer), Buffer.from(b.embeddings.buffer));
  assert.equal(a.fingerprint, b.fingerprint);
  assert.notDeepEqual(Buffer.from(a.embeddings.buffer), Buffer.from(c.embeddings.buffer));
  assert.notEqual(a.fingerprint, c.fingerprint);
  // Item order does not change an item's vector (vocabulary and projection are order-free).
  const reversed = await encodeTfidf([...items].reverse(), settings(), { seed: 11 });
  const dim = 256;
  assert.deepEqual([...reversed.embeddings.subarray(0, dim)], [...a.embeddings.subarray((items.length - 1) * dim, items.length * dim)]);
});

test('resume: an interrupted run continues from its last finished chunk and gives the same vectors', async (t) => {
  const dir = await tempDir(t);
  const items = catalogue();
  const clean = await encodeTfidf(items, settings(), { seed: 3 });

  let written = 0;
  await assert.rejects(
    encodeTfidf(items, settings(), {
      seed: 3,
      workDir: dir,
      onChunk: () => {
        if (++written === 2) throw new Error('worker killed');
      },
    }),
    /worker killed/,
  );
  assert.deepEqual((await readdir(dir)).sort(), [chunkFileName(0), chunkFileName(1)]);

  const progress: number[] = [];
  const resumed = await encodeTfidf(items, settings(), { seed: 3, workDir: dir, onProgress: (p) => progress.push(p.done) });
  assert.equal(resumed.chunks, 4);
  assert.equal(resumed.resumedChunks, 2);
  assert.deepEqual(progress, [3, 6, 9, 10]);
  assert.deepEqual(Buffer.from(resumed.embeddings.buffer), Buffer.from(clean.embeddings.buffer));

  // Chunks of other settings (another seed) are not reused.
  const other = await encodeTfidf(items, settings(), { seed: 4, workDir: dir });
  assert.equal(other.resumedChunks, 0);
});

test('encodeInChunks ignores a damaged chunk file and recomputes it', async (t) => {
  const dir = await tempDir(t);
  const calls: number[] = [];
  const encodeChunk = (start: number, end: number) => {
    calls.push(start);
    return Float32Array.from({ length: (end - start) * 2 }, (_, i) => start * 2 + i);
  };
  await encodeInChunks({ count: 5, dim: 2, chunkSize: 2, fingerprint: 'f', workDir: dir, encodeChunk });
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path.join(dir, chunkFileName(1)), 'truncated');
  calls.length = 0;
  const r = await encodeInChunks({ count: 5, dim: 2, chunkSize: 2, fingerprint: 'f', workDir: dir, encodeChunk });
  assert.deepEqual(calls, [2]);
  assert.equal(r.resumedChunks, 2);
  assert.deepEqual([...r.embeddings], Array.from({ length: 10 }, (_, i) => i));
});

test('bad settings and text without any usable term are BadInputErrors', async () => {
  await assert.rejects(encodeTfidf(catalogue(), settings({ dim: 0 }), { seed: 1 }), (e: unknown) => e instanceof BadInputError && /embed\.tfidf\.dim/.test(e.message));
  await assert.rejects(
    encodeTfidf(catalogue(), settings({ fieldWeights: { title: 0, brand: 0, categories: 0, description: 0 } }), { seed: 1 }),
    BadInputError,
  );
  await assert.rejects(encodeTfidf([item('a'), item('b')], settings({ minDf: 2 }), { seed: 1 }), (e: unknown) => e instanceof BadInputError && /minDf/.test(e.message));
});
