import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TFIDF_SETTINGS, encodeTfidf } from '../../src/embed/tfidf.js';
import type { ItemTextFields } from '../../src/embed/tfidf.js';
import { assignSemanticIds, collisionStats, DEFAULT_REPAIR_SETTINGS } from '../../src/semid/assign.js';
import type { LastLevelCosts } from '../../src/semid/assign.js';
import { Rng } from '../../src/tensor/rng.js';

/** Cost rows from a table, recording each call. */
function tableCosts(rows: Record<number, number[]>, calls: number[][] = []): LastLevelCosts {
  return (items) => {
    calls.push([...items]);
    return Float32Array.from([...items].flatMap((i) => rows[i] ?? assert.fail(`no cost row for item ${i}`)));
  };
}

test('repair on a designed cost matrix: Sinkhorn separates distinct items, identical ones get the extra level; exact report', () => {
  // Two levels, sizes [3, 4]. Items 0 and 1 collide at (0,0) but differ: item 0 is decisively
  // cheaper than item 1 on code 1, item 1 on code 3, so the official group-of-two Sinkhorn gives
  // them codes 1 and 3 (both free in prefix 0: item 2 holds code 2). Items 4 and 5 collide at
  // (1,1) with identical rows (duplicate embeddings): they keep code 1 and get extra codes 0, 1.
  const rows = { 0: [0, 1, 9, 9], 1: [0, 9, 9, 1], 2: [9, 9, 0, 9], 3: [0, 9, 9, 9], 4: [9, 0, 9, 9], 5: [9, 0, 9, 9] };
  const codes = Int32Array.from([0, 0, 0, 0, 0, 2, 2, 0, 1, 1, 1, 1]);
  const calls: number[][] = [];
  const r = assignSemanticIds({ codes, codebookSizes: [3, 4], costs: tableCosts(rows, calls) });

  assert.deepEqual(calls, [[0, 1, 4, 5]], 'cost rows are asked once, for the colliding items only');
  assert.equal(r.levels, 3);
  assert.equal(r.extraLevel, true);
  assert.deepEqual(r.codebookSizes, [3, 4, 2]);
  assert.deepEqual([...r.codes], [0, 1, 0, 0, 3, 0, 0, 2, 0, 2, 0, 0, 1, 1, 0, 1, 1, 1]);
  const { report } = r;
  assert.deepEqual(report.before, { collisionRate: 0.333333, distinctIds: 4, collidingItems: 4, groups: 2, largestGroup: 2 });
  assert.deepEqual(report.afterSinkhorn, { collisionRate: 0.166667, distinctIds: 5, collidingItems: 2, groups: 1, largestGroup: 2 });
  assert.deepEqual(report.final, { collisionRate: 0, distinctIds: 6, collidingItems: 0, groups: 0, largestGroup: 0 });
  // Round 1 moves items 0 and 1; round 2 finds only the identical pair, changes nothing, stops.
  assert.equal(report.sinkhornRounds, 2);
  assert.equal(report.stoppedBecause, 'no-change');
  assert.equal(report.itemsReassigned, 2);
  assert.deepEqual(report.extraLevel, { added: true, items: 2, groups: 1, size: 2, identicalCostGroups: 1 });
  assert.deepEqual(report.levelUsage.map((u) => [u.level, u.size, u.used]), [[0, 3, 3], [1, 4, 4], [2, 2, 2]]);
  assert.deepEqual(report.settings, DEFAULT_REPAIR_SETTINGS);
  assert.deepEqual([report.items, report.rqLevels, report.levels], [6, 2, 3]);
});

test('official strategy: a moved item lands on an occupied code and is repaired in the next round', () => {
  // Round 1 separates items 0 and 1 blind to item 2, sending item 1 to code 3 where item 2 is;
  // round 2 separates 1 and 2.
  const rows = { 0: [0, 1, 9, 9], 1: [0, 9, 9, 1], 2: [9, 9, 1, 0] };
  const codes = Int32Array.from([0, 0, 0, 0, 0, 3]);
  const r = assignSemanticIds({ codes, codebookSizes: [1, 4], costs: tableCosts(rows), settings: { ...DEFAULT_REPAIR_SETTINGS, strategy: 'official' } });
  assert.equal(r.report.sinkhornRounds, 2);
  assert.equal(r.report.stoppedBecause, 'no-collisions');
  assert.equal(r.extraLevel, false);
  assert.equal(new Set([0, 1, 2].map((i) => r.codes[i * 2 + 1])).size, 3);
});

test('free-codes strategy: the same group is repaired in one round over the codes nobody else holds', () => {
  const rows = { 0: [0, 1, 9, 9], 1: [0, 9, 9, 1], 2: [9, 9, 1, 0] };
  const codes = Int32Array.from([0, 0, 0, 0, 0, 3]);
  const r = assignSemanticIds({ codes, codebookSizes: [1, 4], costs: tableCosts(rows) });
  assert.equal(r.report.sinkhornRounds, 1);
  assert.equal(r.report.stoppedBecause, 'no-collisions');
  assert.equal(r.codes[0 * 2 + 1], 1, 'item 0 takes the code it is decisively cheaper on');
  assert.notEqual(r.codes[1 * 2 + 1], 3, 'item 1 does not land on item 2');
  assert.equal(r.codes[2 * 2 + 1], 3, 'item 2 is not touched');
  assert.equal(new Set([0, 1, 2].map((i) => r.codes[i * 2 + 1])).size, 3);
});

test('free-codes strategy: more colliding items than free codes leaves the rest to the extra level', () => {
  // Codebook of 2 under one prefix: items 0, 1, 2 collide at code 0, code 1 is free: one of them
  // moves there, the other two keep colliding although their costs differ.
  const rows = { 0: [0, 5], 1: [0, 1], 2: [0, 9] };
  const r = assignSemanticIds({ codes: Int32Array.from([0, 0, 0]), codebookSizes: [2], costs: tableCosts(rows) });
  assert.equal(r.report.afterSinkhorn.collidingItems, 2);
  assert.deepEqual(r.report.extraLevel, { added: true, items: 2, groups: 1, size: 2, identicalCostGroups: 0 });
  assert.equal(r.report.final.groups, 0);
});

test('no collisions: nothing to repair, no extra level, costs never asked', () => {
  const codes = Int32Array.from([0, 1, 1, 0, 1, 1]);
  const r = assignSemanticIds({ codes, codebookSizes: [2, 2], costs: () => assert.fail('costs asked') });
  assert.deepEqual([...r.codes], [...codes]);
  assert.equal(r.levels, 2);
  assert.equal(r.report.stoppedBecause, 'not-needed');
  assert.equal(r.report.sinkhornRounds, 0);
  assert.equal(r.report.extraLevel.added, false);
});

test('maxRounds 0 skips Sinkhorn: every collision goes to the extra level in item-id order', () => {
  const codes = Int32Array.from([1, 1, 0, 0, 1, 1, 1, 1]);
  const rows = { 0: [1, 2], 2: [2, 1], 3: [1, 1] };
  const r = assignSemanticIds({ codes, codebookSizes: [2, 2], costs: tableCosts(rows), settings: { ...DEFAULT_REPAIR_SETTINGS, maxRounds: 0 } });
  assert.deepEqual([...r.codes], [1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2]);
  assert.deepEqual(r.report.extraLevel, { added: true, items: 3, groups: 1, size: 3, identicalCostGroups: 0 });
  assert.equal(r.report.stoppedBecause, 'max-rounds');
  assert.equal(collisionStats(r.codes, 4, 3).groups, 0);
});

test('bad codes, sizes, settings and cost rows are refused', () => {
  const costs: LastLevelCosts = (items) => new Float32Array(items.length * 2);
  assert.throws(() => assignSemanticIds({ codes: Int32Array.from([0, 2]), codebookSizes: [2, 2], costs }), /code 2 at level 1/);
  assert.throws(() => assignSemanticIds({ codes: Int32Array.from([0, 1, 0]), codebookSizes: [2, 2], costs }), /multiple/);
  assert.throws(() => assignSemanticIds({ codes: Int32Array.from([0, 0, 0, 0]), codebookSizes: [2, 2], costs, settings: { ...DEFAULT_REPAIR_SETTINGS, epsilon: 0 } }), /epsilon/);
  assert.throws(() => assignSemanticIds({ codes: Int32Array.from([0, 0, 0, 0]), codebookSizes: [2, 2], costs: () => new Float32Array(3) }), /returned 3 values/);
  assert.throws(() => assignSemanticIds({ codes: Int32Array.from([0, 0, 0, 0]), codebookSizes: [2, 2], costs: (i) => new Float32Array(i.length * 2).fill(Number.NaN) }), /finite/);
});

// ---------------------------------------------------------------------------------------------
// A realistic setting: TF-IDF embeddings of a catalogue with duplicate titles, quantised by a
// small residual k-means (a stand-in for the RQ-VAE: argmin codes, last-level squared distances).

const BRANDS = ['OPI', 'Essie', 'Revlon', 'Maybelline', 'Loreal', 'Neutrogena', 'Olay', 'Nivea'];
const TYPES: Array<[string, string]> = [
  ['Nail Lacquer', 'Beauty,Makeup,Nails,Nail Polish'],
  ['Mascara', 'Beauty,Makeup,Eyes,Mascara'],
  ['Lipstick', 'Beauty,Makeup,Lips,Lipstick'],
  ['Face Cream', 'Beauty,Skin Care,Face,Creams'],
  ['Body Lotion', 'Beauty,Skin Care,Body,Lotions'],
  ['Shampoo', 'Beauty,Hair Care,Shampoos'],
];
const VARIANTS = ['Ruby Red', 'Ballet Pink', 'Midnight Black', 'Coral Reef', 'Ocean Blue', 'Golden Sand'];

function catalogue(): { items: ItemTextFields[]; duplicateOf: Map<number, number> } {
  const items: ItemTextFields[] = [];
  for (const brand of BRANDS) {
    for (const [type, categories] of TYPES) {
      for (const variant of VARIANTS.slice(0, 4)) items.push({ title: `${brand} ${type}, ${variant}.`, brand, categories, description: '' });
    }
  }
  // Duplicate listings: the same text under another item id (as Amazon data has).
  const duplicateOf = new Map<number, number>();
  for (const original of [3, 40, 41, 100, 150]) {
    duplicateOf.set(items.length, original);
    items.push({ ...items[original]! });
  }
  duplicateOf.set(items.length, 40); // a triple
  items.push({ ...items[40]! });
  return { items, duplicateOf };
}

/** Residual k-means with `sizes[l]` centroids per level (a few Lloyd steps from seeded picks). */
function residualQuantizer(x: Float32Array, n: number, dim: number, sizes: number[], seed: number) {
  const rng = new Rng(seed);
  const residual = Float64Array.from(x);
  const codes = new Int32Array(n * sizes.length);
  let lastCodebook = new Float64Array(0);
  const dist = (r: number, c: Float64Array, k: number) => {
    let s = 0;
    for (let j = 0; j < dim; j++) s += ((residual[r * dim + j] as number) - (c[k * dim + j] as number)) ** 2;
    return s;
  };
  sizes.forEach((K, level) => {
    const codebook = new Float64Array(K * dim);
    rng.sample(n, K).forEach((item, k) => codebook.set(residual.subarray(item * dim, (item + 1) * dim), k * dim));
    const assign = new Int32Array(n);
    for (let step = 0; step < 8; step++) {
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let k = 1; k < K; k++) if (dist(i, codebook, k) < dist(i, codebook, best)) best = k;
        assign[i] = best;
      }
      const sum = new Float64Array(K * dim);
      const count = new Int32Array(K);
      for (let i = 0; i < n; i++) {
        const k = assign[i] as number;
        count[k] = (count[k] as number) + 1;
        for (let j = 0; j < dim; j++) sum[k * dim + j] = (sum[k * dim + j] as number) + (residual[i * dim + j] as number);
      }
      for (let k = 0; k < K; k++) if ((count[k] as number) > 0) for (let j = 0; j < dim; j++) codebook[k * dim + j] = (sum[k * dim + j] as number) / (count[k] as number);
    }
    for (let i = 0; i < n; i++) {
      codes[i * sizes.length + level] = assign[i] as number;
      if (level < sizes.length - 1) for (let j = 0; j < dim; j++) residual[i * dim + j] = (residual[i * dim + j] as number) - (codebook[(assign[i] as number) * dim + j] as number);
    }
    lastCodebook = codebook;
  });
  const K = sizes.at(-1) as number;
  const costs: LastLevelCosts = (items) => {
    const out = new Float32Array(items.length * K);
    items.forEach((item, r) => {
      for (let k = 0; k < K; k++) out[r * K + k] = dist(item, lastCodebook, k);
    });
    return out;
  };
  return { codes, costs };
}

test('realistic: duplicate titles -> identical embeddings -> identical codes; only they get the extra level', async () => {
  const { items, duplicateOf } = catalogue();
  const n = items.length;
  const dim = 128;
  const { embeddings } = await encodeTfidf(items, { ...DEFAULT_TFIDF_SETTINGS, dim, minDf: 1 }, { seed: 5 });
  const sizes = [6, 6, 32]; // a last level larger than any prefix bucket: Sinkhorn always has free codes
  const rq = residualQuantizer(embeddings, n, dim, sizes, 9);
  const r = assignSemanticIds({ codes: rq.codes, codebookSizes: sizes, costs: rq.costs });
  const { report } = r;

  assert.ok(report.before.collisionRate > 0.02, `collision rate before repair ${report.before.collisionRate}`);
  assert.ok(report.afterSinkhorn.collidingItems < report.before.collidingItems, 'Sinkhorn resolves some collisions');
  assert.equal(report.final.groups, 0);
  assert.equal(collisionStats(r.codes, n, r.levels).distinctIds, n);

  // Every duplicate listing shares its original's prefix codes and extra-level group.
  const cos = (a: number, b: number) => {
    let s = 0;
    for (let j = 0; j < dim; j++) s += (embeddings[a * dim + j] as number) * (embeddings[b * dim + j] as number);
    return s;
  };
  const groupOf = (i: number) => [...r.codes.subarray(i * r.levels, i * r.levels + sizes.length)].join(',');
  for (const [copy, original] of duplicateOf) assert.equal(groupOf(copy), groupOf(original), `item ${copy} duplicates ${original}`);

  // The items given the extra level are exactly groups of near-identical embeddings.
  const extra = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const key = groupOf(i);
    extra.set(key, [...(extra.get(key) ?? []), i]);
  }
  const groups = [...extra.values()].filter((g) => g.length > 1);
  assert.equal(groups.length, report.extraLevel.groups);
  assert.equal(groups.reduce((a, g) => a + g.length, 0), report.extraLevel.items);
  assert.equal(report.extraLevel.items, duplicateOf.size + 5, 'five originals, one of them with two copies');
  assert.equal(report.extraLevel.identicalCostGroups, report.extraLevel.groups);
  for (const g of groups) {
    for (const a of g) for (const b of g) assert.ok(cos(a, b) > 0.999, `items ${a} and ${b} share an ID but have cosine ${cos(a, b)}`);
    // Extra codes 0, 1, ... in item-id order.
    assert.deepEqual(g.map((i) => r.codes[i * r.levels + sizes.length]), g.map((_, k) => k));
  }
  for (let i = 0; i < n; i++) if (!groups.some((g) => g.includes(i))) assert.equal(r.codes[i * r.levels + sizes.length], 0);

  // The official strategy, on the same codes, leaves distinct items colliding (cycles, occupied codes).
  const official = assignSemanticIds({ codes: rq.codes, codebookSizes: sizes, costs: rq.costs, settings: { ...DEFAULT_REPAIR_SETTINGS, strategy: 'official' } });
  assert.equal(official.report.final.groups, 0);
  assert.ok(official.report.extraLevel.items >= report.extraLevel.items);

  // Deterministic.
  const again = assignSemanticIds({ codes: rq.codes, codebookSizes: sizes, costs: rq.costs });
  assert.deepEqual([...again.codes], [...r.codes]);
  assert.deepEqual(again.report, report);
});
