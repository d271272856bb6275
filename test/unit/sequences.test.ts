import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InteractionLog } from '../../src/data/interactionLog.js';
import { ScratchDb } from '../../src/data/scratchDb.js';
import { buildSequences, orderColumns, type SequenceOptions, type SequenceSummary } from '../../src/data/sequences.js';

type Row = [user: string, item: string, time: number];

let root: string;
before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'lcrec-seq-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const noFilter: SequenceOptions = { dedupe: false, kCore: 0, minSequenceLength: 1, requireMetadata: false, keepGivenIds: false };

interface Built {
  summary: SequenceSummary;
  /** Each kept user's source id with its items' source ids, in order. */
  named: [string, string[]][];
  /** Per kept user: the new item ids, in order. */
  ids: number[][];
  /** Per kept user: the timestamps, in order. */
  times: number[][];
  /** Source user id of each new user id. */
  userOrder: string[];
  /** Source item id of each new item id. */
  itemOrder: string[];
}

/** Runs buildSequences over `rows` in a scratch database; `withText` items get a metadata record. */
async function build(rows: Row[], opts: Partial<SequenceOptions> = {}, withText?: string[], hasTimestamps = true): Promise<Built> {
  const dir = await mkdtemp(path.join(root, 'db-'));
  const db = await ScratchDb.open(dir);
  try {
    const log = await InteractionLog.create(db);
    log.hasTimestamps = hasTimestamps;
    for (const [user, item, time] of rows) log.add(user, item, time);
    for (const item of withText ?? []) {
      await log.offerItemText(item, () => ({ asin: null, title: item, description: '', brand: '', categories: '', price: null }));
    }
    await log.finish();
    const summary = await buildSequences(db, log, { ...noFilter, ...opts });
    const rowsOut = await db.rows(`
      SELECT uid.user_id, users.user_key, ix.item_key, iid.item_id, k.ts
      FROM kept k JOIN user_ids uid USING (u) JOIN users USING (u) JOIN item_index ix USING (i) JOIN item_ids iid USING (i)
      ORDER BY uid.user_id, ${orderColumns(log, 'k.')}`);
    const built: Built = { summary, named: [], ids: [], times: [], userOrder: [], itemOrder: [] };
    for (const [userId, userKey, itemKey, itemId, ts] of rowsOut) {
      const u = userId as number;
      if (built.named[u] === undefined) {
        built.named[u] = [userKey as string, []];
        built.ids[u] = [];
        built.times[u] = [];
        built.userOrder[u] = userKey as string;
      }
      built.named[u]![1].push(itemKey as string);
      built.ids[u]!.push(itemId as number);
      built.times[u]!.push(ts as number);
    }
    built.itemOrder = (await db.rows('SELECT item_key FROM item_ids JOIN item_index USING (i) ORDER BY item_id')).map((r) => r[0] as string);
    return built;
  } finally {
    db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('buildSequences', () => {
  test('users keep the order of their first appearance in the file', async () => {
    const { userOrder } = await build([
      ['carol', 'x', 5],
      ['alice', 'y', 1],
      ['bob', 'x', 3],
      ['alice', 'x', 9],
      ['carol', 'y', 7],
    ]);
    assert.deepEqual(userOrder, ['carol', 'alice', 'bob']);
  });

  test("each user's items are sorted by time, equal times keeping file order", async () => {
    const { named, times } = await build([
      ['u', 'late', 30],
      ['u', 'tie-first', 10],
      ['v', 'other', 1],
      ['u', 'middle', 20],
      ['u', 'tie-second', 10],
    ]);
    assert.deepEqual(named[0], ['u', ['tie-first', 'tie-second', 'middle', 'late']]);
    assert.deepEqual(times[0], [10, 10, 20, 30]);
  });

  test('without timestamps the file order is the order', async () => {
    const { named } = await build(
      [
        ['u', 'a', 9],
        ['u', 'b', 1],
        ['u', 'c', 5],
      ],
      {},
      undefined,
      false,
    );
    assert.deepEqual(named, [['u', ['a', 'b', 'c']]]);
  });

  test('a repeated (user, item) keeps the earliest by time, not the first in the file', async () => {
    const rows: Row[] = [
      ['u', 'p', 50],
      ['u', 'q', 20],
      ['u', 'p', 5],
      ['u', 'p', 70],
    ];
    const deduped = await build(rows, { dedupe: true });
    assert.deepEqual(deduped.named, [['u', ['p', 'q']]]);
    assert.deepEqual(deduped.times[0], [5, 20]);
    assert.equal(deduped.summary.dropped.duplicates, 2);

    const kept = await build(rows);
    assert.deepEqual(kept.named, [['u', ['p', 'q', 'p', 'p']]]);
    assert.equal(kept.summary.dropped.duplicates, 0);
  });

  test('interactions with items that have no metadata are dropped', async () => {
    const rows: Row[] = [
      ['u', 'a', 1],
      ['u', 'ghost', 2],
      ['u', 'b', 3],
      ['v', 'ghost', 1],
      ['v', 'a', 2],
    ];
    const { named, summary } = await build(rows, { requireMetadata: true }, ['a', 'b', 'never-reviewed']);
    assert.deepEqual(named, [
      ['u', ['a', 'b']],
      ['v', ['a']],
    ]);
    assert.equal(summary.dropped.missingMetadata, 2);
    assert.deepEqual(summary.source, { users: 2, items: 3, itemsWithMetadata: 2 });
  });

  test('k-core is iterated until users and items all reach k', async () => {
    // k = 2. u1 is below k; without it, item a falls below k, which leaves u2 below k; without u2,
    // item b falls below k, which leaves u3 below k. Only u4 and u5 (items c, d) survive.
    const rows: Row[] = [
      ['u1', 'a', 1],
      ['u2', 'a', 1],
      ['u2', 'b', 2],
      ['u3', 'b', 1],
      ['u3', 'c', 2],
      ['u4', 'c', 1],
      ['u4', 'd', 2],
      ['u5', 'c', 1],
      ['u5', 'd', 2],
    ];
    const { named, summary } = await build(rows, { kCore: 2 });
    assert.deepEqual(named, [
      ['u4', ['c', 'd']],
      ['u5', ['c', 'd']],
    ]);
    assert.ok(summary.kCoreRounds > 1, `kCoreRounds ${summary.kCoreRounds}`);
    assert.equal(summary.dropped.kCore, 5);
    assert.equal(summary.dropped.shortSequences, 0);

    const off = await build(rows);
    assert.equal(off.summary.kCoreRounds, 0);
    assert.equal(off.summary.users, 5);
  });

  test('new item ids follow first appearance, scanning kept users in order', async () => {
    const { itemOrder, ids } = await build([
      ['u', 'z', 3],
      ['v', 'x', 1],
      ['u', 'y', 1],
      ['v', 'w', 2],
      ['u', 'x', 2],
    ]);
    // u: y, x, z (by time); v: x, w.
    assert.deepEqual(itemOrder, ['y', 'x', 'z', 'w']);
    assert.deepEqual(ids, [
      [0, 1, 2],
      [1, 3],
    ]);
  });

  test('users shorter than minSequenceLength are dropped and counted, and give no item ids', async () => {
    const { named, summary, itemOrder } = await build(
      [
        ['short', 'only-short', 1],
        ['short', 'a', 2],
        ['long', 'a', 1],
        ['long', 'b', 2],
        ['long', 'c', 3],
      ],
      { minSequenceLength: 3 },
    );
    assert.deepEqual(named, [['long', ['a', 'b', 'c']]]);
    assert.equal(summary.dropped.shortSequences, 2);
    assert.deepEqual(itemOrder, ['a', 'b', 'c']);
    assert.deepEqual([summary.users, summary.items, summary.interactions, summary.minSequenceLength, summary.maxSequenceLength], [1, 3, 3, 3, 3]);
  });
});

describe('keepGivenIds', () => {
  // Source ids are numeric strings, as in LC-Rec's .inter.json; first appearance differs from them.
  const rows: Row[] = [
    ['1', '2', 0],
    ['1', '0', 1],
    ['0', '1', 0],
    ['0', '2', 1],
  ];

  test('keeps the source ids when the surviving ids are exactly 0..N-1', async () => {
    const firstAppearance = await build(rows);
    assert.deepEqual(firstAppearance.ids, [[0, 1], [2, 0]]);
    assert.equal(firstAppearance.summary.sourceIdsKept, false);

    const kept = await build(rows, { keepGivenIds: true });
    assert.equal(kept.summary.sourceIdsKept, true);
    // New user id = given user id, new item id = given item id.
    assert.deepEqual(kept.userOrder, ['0', '1']);
    assert.deepEqual(kept.itemOrder, ['0', '1', '2']);
    assert.deepEqual(kept.ids, [[1, 2], [2, 0]]);
    assert.deepEqual(kept.times, [[0, 1], [0, 1]]);
  });

  test('falls back to first-appearance ids when the surviving ids are not 0..N-1', async () => {
    for (const [label, other] of [
      ['an item id gap', [['0', '5', 0], ['0', '0', 1], ['1', '1', 0]]],
      ['a user id that is not a number', [['0', '0', 0], ['x', '1', 0]]],
      ['a repeated id spelled two ways', [['0', '0', 0], ['1', '00', 0]]],
    ] as [string, Row[]][]) {
      const built = await build(other, { keepGivenIds: true });
      assert.equal(built.summary.sourceIdsKept, false, label);
      assert.deepEqual(built.userOrder, [...new Set(other.map((r) => r[0]))], label);
    }
    // User '1' is too short; the survivors' item ids 1, 2, 3 are not 0..N-1.
    const partial = await build(
      [
        ['0', '1', 0],
        ['0', '2', 1],
        ['0', '3', 2],
        ['1', '0', 0],
      ],
      { keepGivenIds: true, minSequenceLength: 2 },
    );
    assert.equal(partial.summary.sourceIdsKept, false);
    assert.deepEqual(partial.itemOrder, ['1', '2', '3']);
  });
});
