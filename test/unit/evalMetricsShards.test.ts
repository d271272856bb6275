import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BadInputError } from '../../src/errors.js';
import { evaluateUsers, type GenerativeRecommender } from '../../src/eval/generative.js';
import { mergeShards, readEvaluationMetrics, readShard, writeEvaluation, writeShard, METRICS_FILE, PREDICTIONS_FILE, TARGETS_FILE, type ShardData } from '../../src/eval/evaluationFiles.js';
import { shardRange } from '../../src/eval/shards.js';
import { DecodingTrie } from '../../src/search/decodingTrie.js';
import { SemanticIdTrie } from '../../src/semid/trie.js';
import { readParquet } from '../../src/tables/parquet.js';
import { fmix32 } from '../../src/tensor/rng.js';
import { HashModel, randomCodes, TEST_TOKENS } from './searchFakes.js';

const ITEMS = 40;
const DEPTH = 3;
const codes = randomCodes(ITEMS, DEPTH, 4, 21);
const trie = DecodingTrie.fromSemanticIds(SemanticIdTrie.build(codes, DEPTH), TEST_TOKENS);
// 23 users, 3..8 items each.
const sequences = Array.from({ length: 23 }, (_, u) => Int32Array.from({ length: 3 + (fmix32(u + 1) % 6) }, (_, i) => fmix32(u * 31 + i) % ITEMS));
// The prompt is [template, ...history]; the model leans towards the item after the last history item
// (item + 1), so some targets are hit and some are not.
const pathOf = (item: number) => Int32Array.from({ length: DEPTH }, (_, l) => TEST_TOKENS.codeTokenId(l, codes[item * DEPTH + l]!));
const model = (): GenerativeRecommender => ({
  sessions: new HashModel(17, { path: (p) => pathOf((p[p.length - 1]! + 1) % ITEMS), bonus: 2.5 }),
  trie,
  renderPrompt: (history, template) => Int32Array.of(template, ...history),
});

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lcrec-eval-'));
  dirs.push(d);
  return d;
}

/** Evaluates in `shards` shards (each written and read back), merges, writes the merged output. */
async function evaluateSharded(shards: number, batchPrompts: number, templates: number[]): Promise<string> {
  const root = await tempDir();
  const read = [];
  for (let s = 0; s < shards; s++) {
    const dir = join(root, `shard-${s}`);
    await mkdir(dir);
    // The fake model's logits do not depend on the batch, so any cut will do: unaligned shards test the merge.
    const ev = await evaluateUsers(model(), sequences, shardRange(sequences.length, s, shards), { splits: ['valid', 'test'], templates, beamWidth: 10, batchPrompts, maxHistory: 5 });
    await writeShard(dir, ev, s, shards);
    read.push(await readShard(dir));
  }
  const out = join(root, 'merged');
  await mkdir(out);
  await writeEvaluation(out, mergeShards(read.reverse(), sequences.length));
  return out;
}

test('shards are contiguous, cover every user once, and do not depend on anything but the counts', () => {
  const ranges = Array.from({ length: 4 }, (_, s) => shardRange(23, s, 4));
  assert.deepEqual(ranges, [
    { from: 0, to: 5 },
    { from: 5, to: 11 },
    { from: 11, to: 17 },
    { from: 17, to: 23 },
  ]);
  assert.deepEqual(shardRange(3, 4, 5), { from: 2, to: 3 });
  assert.deepEqual(shardRange(3, 0, 5), { from: 0, to: 0 }, 'more shards than users: some are empty');
  assert.throws(() => shardRange(10, 4, 4), /shard 4 is not in 0..3/);
  // Aligned to batches of 5: shards start on batch boundaries, the last one takes the remainder.
  assert.deepEqual(
    Array.from({ length: 4 }, (_, s) => shardRange(23, s, 4, 5)),
    [
      { from: 0, to: 5 },
      { from: 5, to: 10 },
      { from: 10, to: 15 },
      { from: 15, to: 23 },
    ],
  );
  assert.deepEqual(
    Array.from({ length: 3 }, (_, s) => shardRange(4, s, 3, 8)),
    [
      { from: 0, to: 0 },
      { from: 0, to: 0 },
      { from: 0, to: 4 },
    ],
    'fewer batches than shards: empty shards, still one cover',
  );
});

test('1 shard and 4 shards (and different batch sizes) give identical metrics.json, predictions.parquet and targets.parquet', async () => {
  const one = await evaluateSharded(1, 32, [0]);
  const four = await evaluateSharded(4, 3, [0]);
  for (const file of [METRICS_FILE, PREDICTIONS_FILE, TARGETS_FILE]) {
    assert.ok((await readFile(join(one, file))).equals(await readFile(join(four, file))), `${file} differs`);
  }
  const metrics = await readEvaluationMetrics(one);
  assert.equal(metrics.users, 23);
  const valid = metrics.splits.valid!.mean;
  assert.ok(valid['recall@10'] > 0 && valid['recall@1'] < 1, 'the fake model hits some targets and misses others');
  const table = await readParquet(join(one, PREDICTIONS_FILE));
  assert.deepEqual(table.schema.fields.map((f) => f.name), ['split', 'template', 'user_id', 'rank', 'item_id', 'score']);
  assert.equal(table.numRows, 23 * 10 * 2);
  assert.equal(table.getChild('split')!.get(0), 'valid');
  assert.equal(table.getChild('split')!.get(23 * 10), 'test');
});

test('all-templates mode reports every template and their mean', async () => {
  const out = await evaluateSharded(2, 8, [0, 3, 7]);
  const m = await readEvaluationMetrics(out);
  assert.deepEqual(m.templates, [0, 3, 7]);
  const t = m.splits.test!;
  assert.deepEqual(Object.keys(t.templates), ['0', '3', '7']);
  const mean = (['0', '3', '7'] as const).reduce((s, k) => s + t.templates[k]!['ndcg@10'], 0) / 3;
  assert.ok(Math.abs(t.mean['ndcg@10'] - mean) < 1e-15);
  assert.ok(t.min['recall@5'] <= t.mean['recall@5'] && t.mean['recall@5'] <= t.max['recall@5']);
  const targets = await readParquet(join(out, TARGETS_FILE));
  assert.equal(targets.numRows, 23 * 3 * 2);
});

test('a merge refuses missing, overlapping or mismatched shards; a damaged shard names its file', async () => {
  const root = await tempDir();
  const shards: ShardData[] = [];
  for (let s = 0; s < 3; s++) {
    const dir = join(root, `s${s}`);
    await mkdir(dir);
    await writeShard(dir, await evaluateUsers(model(), sequences, shardRange(23, s, 3), { splits: ['test'], templates: [0], beamWidth: 10, batchPrompts: 4, maxHistory: 5 }), s, 3);
    shards.push(await readShard(dir));
  }
  assert.throws(() => mergeShards(shards.slice(0, 2), 23), /expected shard|cover/);
  assert.throws(() => mergeShards([shards[0]!, shards[0]!, shards[2]!], 23), /expected shard 1 of 3/);
  assert.throws(() => mergeShards(shards, 24), /the dataset has 24/);
  await writeFile(join(root, 's1', 'shard.json'), JSON.stringify({ format: 'lcrec.evaluation_shard/1', shard: 1 }));
  await assert.rejects(readShard(join(root, 's1')), (err: unknown) => err instanceof BadInputError && /s1\/shard\.json/.test(err.message));
});

test('empty shards (more shards than windows of users) are written, read and merged like any other', async () => {
  const root = await tempDir();
  const shards: ShardData[] = [];
  const few = sequences.slice(0, 5);
  for (let s = 0; s < 3; s++) {
    const dir = join(root, `s${s}`);
    await mkdir(dir);
    const range = shardRange(few.length, s, 3, 8);
    await writeShard(dir, await evaluateUsers(model(), few, range, { splits: ['valid', 'test'], templates: [0], beamWidth: 10, batchPrompts: 1, maxHistory: 5 }), s, 3);
    shards.push(await readShard(dir));
  }
  assert.deepEqual(shards.map((s) => s.evaluation.users.to - s.evaluation.users.from), [0, 0, 5]);
  const out = join(root, 'merged');
  await mkdir(out);
  const metrics = await writeEvaluation(out, mergeShards(shards, few.length));
  assert.equal(metrics.users, 5);
  assert.equal((await readParquet(join(out, PREDICTIONS_FILE))).numRows, 5 * 10 * 2);
});
