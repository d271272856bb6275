import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { BadInputError } from '../../src/errors.js';
import { assignSemanticIds } from '../../src/semid/assign.js';
import type { LastLevelCosts } from '../../src/semid/assign.js';
import { readSemanticIds, SEMANTIC_IDS_FILE, SEMID_OUTPUTS, writeSemanticIds } from '../../src/semid/writeSemanticIds.js';
import { listOfInt32Vector, writeParquet } from '../../src/tables/parquet.js';
import { Rng } from '../../src/tensor/rng.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lcrec-semid-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** 300 items, levels of 8, 8 and 16 codes, clustered so that some tuples collide; items 7 and 8 are duplicates. */
function input(seed: number) {
  const rng = new Rng(seed);
  const n = 300;
  const K = 16;
  const sizes = [8, 8, K];
  const codes = new Int32Array(n * 3);
  const rows = new Float32Array(n * K);
  for (let i = 0; i < n; i++) {
    codes[i * 3] = rng.int(8);
    codes[i * 3 + 1] = rng.int(8);
    for (let k = 0; k < K; k++) rows[i * K + k] = rng.float() * 4;
    let best = 0;
    for (let k = 1; k < K; k++) if ((rows[i * K + k] as number) < (rows[i * K + best] as number)) best = k;
    codes[i * 3 + 2] = best;
  }
  codes.copyWithin(8 * 3, 7 * 3, 8 * 3);
  rows.copyWithin(8 * K, 7 * K, 8 * K);
  const costs: LastLevelCosts = (items) => Float32Array.from([...items].flatMap((i) => [...rows.subarray(i * K, i * K + K)]));
  return { codes, codebookSizes: sizes, costs };
}

async function digests(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of SEMID_OUTPUTS) out[name] = createHash('sha256').update(await readFile(path.join(dir, name))).digest('hex');
  return out;
}

test('identical inputs give byte-identical files; they read back consistent', async (t) => {
  const dir = await tempDir(t);
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(a);
  await mkdir(b);
  const first = assignSemanticIds(input(1));
  assert.ok(first.report.before.collisionRate > 0);
  assert.equal(first.extraLevel, true, 'the duplicate pair needs the extra level');
  await writeSemanticIds(a, first);
  await writeSemanticIds(b, assignSemanticIds(input(1)));
  assert.deepEqual(await digests(a), await digests(b));

  const back = await readSemanticIds(a);
  assert.equal(back.items, 300);
  assert.equal(back.levels, 4);
  assert.deepEqual([...back.codes], [...first.codes]);
  assert.equal(back.tokens[8], back.vocabulary.itemTokens(first.codes.subarray(8 * 4, 9 * 4)));
  assert.match(back.tokens[8]!, /^<C0_\d+><C1_\d+><C2_\d+><C3_1>$/);
  assert.deepEqual(back.report, first.report);
  for (let i = 0; i < 300; i++) assert.equal(back.trie.itemAt([...first.codes.subarray(i * 4, i * 4 + 4)]), i);
  assert.deepEqual(back.vocabulary.codebookSizes, [8, 8, 16, 2]);
  const vocab = JSON.parse(await readFile(path.join(a, 'vocabulary.json'), 'utf8'));
  assert.equal(vocab.tokens.length, 34);

  await writeSemanticIds(b, assignSemanticIds(input(2)));
  assert.notEqual((await digests(a))[SEMANTIC_IDS_FILE], (await digests(b))[SEMANTIC_IDS_FILE]);
});

test('readSemanticIds refuses tokens that do not spell the codes', async (t) => {
  const dir = await tempDir(t);
  await writeSemanticIds(dir, assignSemanticIds(input(3)));
  const { codes } = await readSemanticIds(dir);
  const rows = Array.from({ length: 300 }, (_, i) => codes.subarray(i * 4, i * 4 + 4));
  const tokens = rows.map((r) => `<C0_${r[0]}><C1_${r[1]}><C2_${r[2]}><C3_${r[3]}>`);
  tokens[5] = tokens[6]!;
  await writeParquet(path.join(dir, SEMANTIC_IDS_FILE), new arrow.Table({
    item_id: arrow.makeVector(Int32Array.from({ length: 300 }, (_, i) => i)),
    codes: listOfInt32Vector(rows),
    tokens: arrow.vectorFromArray(tokens, new arrow.Utf8()),
  }));
  await assert.rejects(readSemanticIds(dir), (e: unknown) => e instanceof BadInputError && /row 5: tokens/.test(e.message));
  await writeFile(path.join(dir, 'trie.json'), '{"format":"lcrec.semantic_trie/1"}');
  await assert.rejects(readSemanticIds(dir), BadInputError);
});
