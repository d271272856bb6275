import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InteractionLog } from '../../src/data/interactionLog.js';
import { buildSequences, withGivenIds, type SequenceOptions, type SequenceSet } from '../../src/data/sequences.js';

type Row = [user: string, item: string, time: number];

function logOf(rows: Row[]): InteractionLog {
  const log = new InteractionLog();
  for (const [user, item, time] of rows) log.add(user, item, time);
  return log;
}

const noFilter: SequenceOptions = { dedupe: false, kCore: 0, minSequenceLength: 1 };

/** Each kept user's source id with its items' source ids, in order. */
function named(log: InteractionLog, set: SequenceSet): [string, string[]][] {
  return set.sequences.map((seq, u) => [
    log.users.values[set.userSource[u]!]!,
    Array.from(seq, (it) => log.items.values[set.itemSource[it]!]!),
  ]);
}

describe('buildSequences', () => {
  test('users keep the order of their first appearance in the file', () => {
    const log = logOf([
      ['carol', 'x', 5],
      ['alice', 'y', 1],
      ['bob', 'x', 3],
      ['alice', 'x', 9],
      ['carol', 'y', 7],
    ]);
    const set = buildSequences(log, noFilter);
    assert.deepEqual(named(log, set).map(([u]) => u), ['carol', 'alice', 'bob']);
  });

  test("each user's items are sorted by time, equal times keeping file order", () => {
    const log = logOf([
      ['u', 'late', 30],
      ['u', 'tie-first', 10],
      ['v', 'other', 1],
      ['u', 'middle', 20],
      ['u', 'tie-second', 10],
    ]);
    const set = buildSequences(log, noFilter);
    assert.deepEqual(named(log, set)[0], ['u', ['tie-first', 'tie-second', 'middle', 'late']]);
    assert.deepEqual(Array.from(set.timestamps![0]!), [10, 10, 20, 30]);
  });

  test('a repeated (user, item) keeps the earliest by time, not the first in the file', () => {
    const log = logOf([
      ['u', 'p', 50],
      ['u', 'q', 20],
      ['u', 'p', 5],
      ['u', 'p', 70],
    ]);
    const set = buildSequences(log, { ...noFilter, dedupe: true });
    assert.deepEqual(named(log, set), [['u', ['p', 'q']]]);
    assert.deepEqual(Array.from(set.timestamps![0]!), [5, 20]);
    assert.equal(set.dropped.duplicates, 2);

    const kept = buildSequences(log, noFilter);
    assert.deepEqual(named(log, kept), [['u', ['p', 'q', 'p', 'p']]]);
    assert.equal(kept.dropped.duplicates, 0);
  });

  test('interactions with items that have no metadata are dropped', () => {
    const log = logOf([
      ['u', 'a', 1],
      ['u', 'ghost', 2],
      ['u', 'b', 3],
      ['v', 'ghost', 1],
      ['v', 'a', 2],
    ]);
    const ghost = log.items.get('ghost')!;
    const set = buildSequences(log, { ...noFilter, itemHasMetadata: (item) => item !== ghost });
    assert.deepEqual(named(log, set), [
      ['u', ['a', 'b']],
      ['v', ['a']],
    ]);
    assert.equal(set.dropped.missingMetadata, 2);
  });

  test('k-core is iterated until users and items all reach k', () => {
    // k = 2. u1 is below k; without it, item a falls below k, which leaves u2 below k; without u2,
    // item b falls below k, which leaves u3 below k. Only u4 and u5 (items c, d) survive.
    const log = logOf([
      ['u1', 'a', 1],
      ['u2', 'a', 1],
      ['u2', 'b', 2],
      ['u3', 'b', 1],
      ['u3', 'c', 2],
      ['u4', 'c', 1],
      ['u4', 'd', 2],
      ['u5', 'c', 1],
      ['u5', 'd', 2],
    ]);
    const set = buildSequences(log, { ...noFilter, kCore: 2 });
    assert.deepEqual(named(log, set), [
      ['u4', ['c', 'd']],
      ['u5', ['c', 'd']],
    ]);
    assert.ok(set.kCoreRounds > 1, `kCoreRounds ${set.kCoreRounds}`);
    assert.equal(set.dropped.kCore, 5);
    assert.equal(set.dropped.shortSequences, 0);

    const off = buildSequences(log, noFilter);
    assert.equal(off.kCoreRounds, 0);
    assert.equal(off.sequences.length, 5);
  });

  test('new item ids follow first appearance, scanning kept users in order', () => {
    const log = logOf([
      ['u', 'z', 3],
      ['v', 'x', 1],
      ['u', 'y', 1],
      ['v', 'w', 2],
      ['u', 'x', 2],
    ]);
    const set = buildSequences(log, noFilter);
    // u: y, x, z (by time); v: x, w.
    assert.deepEqual(Array.from(set.itemSource, (i) => log.items.values[i]), ['y', 'x', 'z', 'w']);
    assert.deepEqual(set.sequences.map((s) => Array.from(s)), [
      [0, 1, 2],
      [1, 3],
    ]);
  });

  test('users shorter than minSequenceLength are dropped and counted, and give no item ids', () => {
    const log = logOf([
      ['short', 'only-short', 1],
      ['short', 'a', 2],
      ['long', 'a', 1],
      ['long', 'b', 2],
      ['long', 'c', 3],
    ]);
    const set = buildSequences(log, { ...noFilter, minSequenceLength: 3 });
    assert.deepEqual(named(log, set), [['long', ['a', 'b', 'c']]]);
    assert.equal(set.dropped.shortSequences, 2);
    assert.deepEqual(Array.from(set.itemSource, (i) => log.items.values[i]), ['a', 'b', 'c']);
  });
});

describe('withGivenIds', () => {
  // Source ids are numeric strings, as in LC-Rec's .inter.json; first appearance differs from them.
  const log = logOf([
    ['1', '2', 0],
    ['1', '0', 1],
    ['0', '1', 0],
    ['0', '2', 1],
  ]);
  const given = (values: string[]) => values.map(Number);

  test('keeps the source ids when the surviving ids are exactly 0..N-1', () => {
    const set = buildSequences(log, noFilter);
    assert.deepEqual(set.sequences.map((s) => Array.from(s)), [[0, 1], [2, 0]]); // first appearance
    const kept = withGivenIds(set, given(log.users.values), given(log.items.values));
    assert.ok(kept);
    // New user id = given user id, new item id = given item id.
    assert.deepEqual(Array.from(kept.userSource, (u) => log.users.values[u]), ['0', '1']);
    assert.deepEqual(Array.from(kept.itemSource, (i) => log.items.values[i]), ['0', '1', '2']);
    assert.deepEqual(kept.sequences.map((s) => Array.from(s)), [[1, 2], [2, 0]]);
    assert.deepEqual(kept.timestamps!.map((t) => Array.from(t)), [[0, 1], [0, 1]]);
  });

  test('returns undefined when the surviving ids are not contiguous', () => {
    const set = buildSequences(log, noFilter);
    assert.equal(withGivenIds(set, given(log.users.values), [2, 0, 5]), undefined);
    assert.equal(withGivenIds(set, [1, 2], given(log.items.values)), undefined);
    assert.equal(withGivenIds(set, [Number.NaN, 0], given(log.items.values)), undefined);
    // User '1' is too short; the survivors' item ids 1, 2, 3 are not 0..N-1.
    const partial = buildSequences(
      logOf([
        ['0', '1', 0],
        ['0', '2', 1],
        ['0', '3', 2],
        ['1', '0', 0],
      ]),
      { ...noFilter, minSequenceLength: 2 },
    );
    assert.equal(withGivenIds(partial, [0, 1], [1, 2, 3, 0]), undefined);
  });
});
