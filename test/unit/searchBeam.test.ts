import assert from 'node:assert/strict';
import { test } from 'node:test';
import { constrainedBeamSearch, newSearchTiming } from '../../src/search/beamSearch.js';
import { DecodingTrie } from '../../src/search/decodingTrie.js';
import { SemanticIdTrie } from '../../src/semid/trie.js';
import { bruteForceScores, HashModel, plainBeamSearch, randomCodes, TEST_TOKENS } from './searchFakes.js';

const prompt = (...t: number[]) => Int32Array.from(t);

function setup(items: number, depth: number, codebook: number, seed: number) {
  const codes = randomCodes(items, depth, codebook, seed);
  const semantic = SemanticIdTrie.build(codes, depth);
  return { codes, semantic, trie: DecodingTrie.fromSemanticIds(semantic, TEST_TOKENS) };
}

/** Items ranked by brute-force score, best first; ties by item id (not expected with hashed logits). */
function rankByScore(scores: Float64Array): number[] {
  return Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
}

test('with beam >= items the search returns every item, ranked exactly as the brute-force path scores', async () => {
  for (const [items, depth, codebook, seed] of [
    [23, 3, 4, 1],
    [40, 4, 3, 2],
    [9, 2, 5, 3],
  ] as const) {
    const { codes, semantic, trie } = setup(items, depth, codebook, seed);
    const model = new HashModel(seed * 7 + 1);
    const prompts = [prompt(5, 6, 7), prompt(8), prompt(1, 2, 3, 4, 5, 6)];
    const results = await constrainedBeamSearch(model, prompts, trie, items + 3);
    for (const [p, result] of results.entries()) {
      const reference = await bruteForceScores(new HashModel(seed * 7 + 1), prompts[p]!, codes, depth, (pre) => semantic.allowedNext(pre));
      assert.deepEqual(Array.from(result.items), rankByScore(reference), `ranking of prompt ${p} (items ${items}, depth ${depth})`);
      result.items.forEach((item, r) => assert.ok(Math.abs(result.scores[r]! - reference[item]!) < 1e-9, `score of item ${item}`));
      // Scores are log-probabilities of a distribution over the valid items: they sum to 1.
      const total = result.scores.reduce((s, v) => s + Math.exp(v), 0);
      assert.ok(Math.abs(total - 1) < 1e-9, `exp(scores) sum to ${total}`);
    }
    assert.equal(model.live, 0, 'the session is disposed');
  }
});

test("every finished beam is an existing, distinct item; scores are sorted; only the trie's children are asked for", async () => {
  const { semantic, trie } = setup(60, 3, 6, 11);
  const model = new HashModel(3);
  const prompts = Array.from({ length: 7 }, (_, i) => prompt(i, i + 1));
  const results = await constrainedBeamSearch(model, prompts, trie, 10);
  for (const { items, scores } of results) {
    assert.equal(items.length, 10);
    assert.equal(new Set(items).size, 10, 'distinct items');
    for (const item of items) assert.ok(item >= 0 && item < 60);
    for (let r = 1; r < scores.length; r++) assert.ok(scores[r - 1]! >= scores[r]!, 'best first');
  }
  // depth 3: at most three logit calls (the EOS step costs nothing and is not asked for).
  assert.ok(model.calls.length <= 3);
  for (const call of model.calls) {
    for (const row of call.rows) {
      const prefix = row.generated.map((t, l) => t - TEST_TOKENS.codeTokenId(l, 0));
      const expected = Array.from(semantic.allowedNext(prefix), (c) => TEST_TOKENS.codeTokenId(prefix.length, c));
      assert.deepEqual(row.allowed, expected, `allowed after [${prefix}]`);
    }
    const perPrompt = new Map<number, number>();
    for (const row of call.rows) perPrompt.set(row.prompt, (perPrompt.get(row.prompt) ?? 0) + 1);
    for (const n of perPrompt.values()) assert.ok(n <= 10, 'never more rows than the beam width per prompt');
  }
});

test('with narrow beams the result equals a plain beam search that steps through every token', async () => {
  for (const [items, depth, codebook, beam] of [
    [60, 3, 6, 3],
    [80, 4, 4, 5],
    [30, 3, 8, 10],
    [200, 3, 16, 4],
  ] as const) {
    const { semantic, trie } = setup(items, depth, codebook, items + beam);
    for (const p of [prompt(1, 2), prompt(7)]) {
      const [fast] = await constrainedBeamSearch(new HashModel(beam), [p], trie, beam);
      const plain = await plainBeamSearch(new HashModel(beam), p, depth, beam, (pre) => semantic.allowedNext(pre));
      const plainItems = plain.paths.map((path) => semantic.itemAt(path));
      assert.deepEqual(Array.from(fast!.items), plainItems, `items ${items}, beam ${beam}`);
      plain.scores.forEach((s, r) => assert.ok(Math.abs(fast!.scores[r]! - s) < 1e-9));
    }
  }
});

test('a prompt scored alone gets the same beams as in a batch', async () => {
  const { trie } = setup(50, 3, 5, 4);
  const prompts = [prompt(1), prompt(2, 3), prompt(4, 5, 6), prompt(9, 9)];
  const batch = await constrainedBeamSearch(new HashModel(5), prompts, trie, 6);
  for (const [i, p] of prompts.entries()) {
    const [alone] = await constrainedBeamSearch(new HashModel(5), [p], trie, 6);
    assert.deepEqual(Array.from(alone!.items), Array.from(batch[i]!.items));
    assert.deepEqual(Array.from(alone!.scores), Array.from(batch[i]!.scores));
  }
});

test('fewer first-level codes than beams, and fewer items than beams: all that exists is kept', async () => {
  // Two level-0 codes, 3 items in all: [0,1], [0,2], [1,4].
  const semantic = SemanticIdTrie.build(Int32Array.from([0, 1, 0, 2, 1, 4]), 2);
  const trie = DecodingTrie.fromSemanticIds(semantic, TEST_TOKENS);
  const model = new HashModel(8);
  const [result] = await constrainedBeamSearch(model, [prompt(3)], trie, 5);
  assert.deepEqual([...result!.items].sort(), [0, 1, 2]);
  assert.equal(model.calls[0]!.rows.length, 1, 'step 0: one row');
  assert.equal(model.calls[1]!.rows.length, 1, 'step 1: only the beam under code 0 still has a choice; [1] has one completion, [1,4], and is finished without the model');
  assert.deepEqual(model.calls[1]!.rows[0]!.generated, [TEST_TOKENS.codeTokenId(0, 0)]);
});

test('beams with a single completion leave the session: no model step is spent on forced tokens', async () => {
  // Three items whose subtrees below level 0 are single paths: one logit call decides everything.
  const trie = DecodingTrie.fromSemanticIds(SemanticIdTrie.build(Int32Array.from([0, 5, 1, 1, 2, 2, 2, 0, 0]), 3), TEST_TOKENS);
  const model = new HashModel(4);
  const [result] = await constrainedBeamSearch(model, [prompt(1, 2)], trie, 10);
  assert.equal(model.calls.length, 1);
  assert.equal(model.advances, 0);
  assert.equal(result!.items.length, 3);
  // The same ranking as brute force, which steps through every token.
  const reference = await bruteForceScores(new HashModel(4), prompt(1, 2), Int32Array.from([0, 5, 1, 1, 2, 2, 2, 0, 0]), 3, (pre) =>
    SemanticIdTrie.build(Int32Array.from([0, 5, 1, 1, 2, 2, 2, 0, 0]), 3).allowedNext(pre),
  );
  assert.deepEqual(Array.from(result!.items), rankByScore(reference));
  result!.items.forEach((item, r) => assert.ok(Math.abs(result!.scores[r]! - reference[item]!) < 1e-9));
  // One item in all: nothing to decide, no session at all.
  const single = DecodingTrie.fromSemanticIds(SemanticIdTrie.build(Int32Array.from([3, 1]), 2), TEST_TOKENS);
  const none = new HashModel(4);
  const [only] = await constrainedBeamSearch(none, [prompt(1)], single, 10);
  assert.deepEqual(Array.from(only!.items), [0]);
  assert.equal(only!.scores[0], 0);
  assert.equal(none.sessionsStarted, 0);
});

test('equal logits: ties go to the better parent, then the lower code, so equal scores keep the tuple order', async () => {
  const codes = Int32Array.from([2, 0, 1, 0, 3, 3, 2, 0, 0, 0, 3, 1, 1, 1, 1]); // five items of 3 levels
  const trie = DecodingTrie.fromSemanticIds(SemanticIdTrie.build(codes, 3), TEST_TOKENS);
  const flat: import('../../src/search/decodeSession.js').SessionFactory = {
    async start(prompts) {
      let rows = prompts.length;
      return {
        get rows() {
          return rows;
        },
        async nextLogits(allowed) {
          return allowed.map((a) => new Float32Array(a.length));
        },
        async advance(parents) {
          rows = parents.length;
        },
        dispose() {},
      };
    },
  };
  const [all] = await constrainedBeamSearch(flat, [prompt(1)], trie, 5);
  // Uniform per step: [0,3,*] items 3,1 get log(1/3 * 1 * 1/2); [1,1,1] item 4 log(1/3); [2,0,*] items 2,0 log(1/6).
  assert.deepEqual(Array.from(all!.items), [4, 3, 1, 2, 0]);
  assert.ok(Math.abs(all!.scores[0]! - Math.log(1 / 3)) < 1e-12);
  const [two] = await constrainedBeamSearch(flat, [prompt(1)], trie, 2);
  assert.deepEqual(Array.from(two!.items), [4, 3], 'beam 2 keeps codes 0 and 1 at level 0: [1,1,1] beats [0,3,*], and [0,3,1] wins the tie');
});

test('code-to-token mappings that would merge items, or reuse EOS, are refused', () => {
  const semantic = SemanticIdTrie.build(Int32Array.from([0, 1, 1, 0]), 2);
  assert.throws(() => DecodingTrie.fromSemanticIds(semantic, { codeTokenId: (_l, c) => 10 + c, eosId: 2 }), /used by both level 0 code 1 and level 1 code 1/);
  assert.throws(() => DecodingTrie.fromSemanticIds(semantic, { codeTokenId: (l, c) => 2 + 10 * l + c, eosId: 2 }), /EOS/);
  assert.throws(() => DecodingTrie.fromSemanticIds(semantic, { codeTokenId: () => -1, eosId: 2 }), /non-negative integer/);
});

test('timing splits wall time between the model and the search', async () => {
  const { trie } = setup(30, 3, 4, 9);
  const timing = newSearchTiming();
  await constrainedBeamSearch(new HashModel(1), [prompt(1), prompt(2)], trie, 4, timing);
  assert.ok(timing.modelMs > 0 && timing.searchMs > 0);
});
