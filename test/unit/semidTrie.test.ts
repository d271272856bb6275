import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BadInputError } from '../../src/errors.js';
import { SemanticIdTrie } from '../../src/semid/trie.js';
import { codeToken, SemanticVocabulary } from '../../src/semid/vocabulary.js';
import { Rng } from '../../src/tensor/rng.js';

// Five items of three levels: item i has codes[i].
const CODES = [
  [2, 0, 1],
  [0, 3, 3],
  [2, 0, 0],
  [0, 3, 1],
  [1, 1, 1],
];
const flat = Int32Array.from(CODES.flat());

test('trie: allowedNext after every prefix, itemAt for complete paths only', () => {
  const trie = SemanticIdTrie.build(flat, 3);
  assert.equal(trie.items, 5);
  assert.deepEqual([...trie.allowedNext([])], [0, 1, 2]);
  assert.deepEqual([...trie.allowedNext([0])], [3]);
  assert.deepEqual([...trie.allowedNext([0, 3])], [1, 3]);
  assert.deepEqual([...trie.allowedNext([2, 0])], [0, 1]);
  assert.deepEqual([...trie.allowedNext([1, 1])], [1]);
  assert.deepEqual([...trie.allowedNext([2, 0, 1])], [], 'a complete ID: only EOS may follow');
  assert.deepEqual([...trie.allowedNext([3])], [], 'not a prefix of any item');
  assert.deepEqual([...trie.allowedNext([0, 2])], []);
  CODES.forEach((path, item) => assert.equal(trie.itemAt(path), item));
  assert.equal(trie.itemAt([2, 0]), undefined);
  assert.equal(trie.itemAt([2, 0, 2]), undefined);
  assert.equal(trie.itemAt([2, 0, 1, 0]), undefined);
  assert.equal(trie.isValidPrefix([0, 3]), true);
  assert.equal(trie.isValidPrefix([0, 1]), false);
  // root + 3 + 3 + 5 leaves
  assert.equal(trie.nodeCount, 12);
});

test('trie: JSON round trip is exact and deterministic', () => {
  const trie = SemanticIdTrie.build(flat, 3);
  const json = JSON.stringify(trie.toJSON());
  const back = SemanticIdTrie.fromJSON(JSON.parse(json));
  assert.equal(JSON.stringify(back.toJSON()), json);
  CODES.forEach((path, item) => assert.equal(back.itemAt(path), item));
  assert.deepEqual([...back.allowedNext([0, 3])], [1, 3]);
  assert.deepEqual(trie.toJSON().codes, [0, 1, 2, 3, 1, 0, 1, 3, 1, 0, 1]);
  assert.deepEqual(trie.toJSON().leafItems, [3, 1, 4, 2, 0]);
});

test('trie: collisions and malformed files are refused', () => {
  assert.throws(() => SemanticIdTrie.build(Int32Array.from([1, 2, 1, 2]), 2), /items 0 and 1 have the same codes/);
  assert.throws(() => SemanticIdTrie.build(Int32Array.from([1, 2, 3]), 2), RangeError);
  const good = SemanticIdTrie.build(flat, 3).toJSON();
  const bad = (patch: object) => () => SemanticIdTrie.fromJSON({ ...good, ...patch }, 'trie.json');
  assert.throws(bad({ format: 'x' }), BadInputError);
  assert.throws(bad({ leafItems: [3, 1, 4, 2, 2] }), /permutation/);
  assert.throws(bad({ codes: [0, 2, 1, 3, 1, 0, 1, 3, 1, 0, 1] }), /ascending/);
  assert.throws(bad({ depth: 2 }), BadInputError);
  assert.throws(bad({ offsets: [1, 4, 5, 6, 8, 10, 11, 13] }), BadInputError);
  assert.throws(bad({ items: 4 }), BadInputError);
});

test('trie: matches brute force on random code sets', () => {
  const rng = new Rng(21);
  for (let trial = 0; trial < 20; trial++) {
    const depth = 1 + rng.int(4);
    const k = 2 + rng.int(5);
    const seen = new Set<string>();
    const rows: number[][] = [];
    const n = 1 + rng.int(Math.min(60, k ** depth));
    while (rows.length < n) {
      const row = Array.from({ length: depth }, () => rng.int(k));
      if (seen.has(row.join())) continue;
      seen.add(row.join());
      rows.push(row);
    }
    const trie = SemanticIdTrie.fromJSON(SemanticIdTrie.build(Int32Array.from(rows.flat()), depth).toJSON());
    rows.forEach((row, item) => {
      assert.equal(trie.itemAt(row), item);
      for (let l = 0; l < depth; l++) {
        const prefix = row.slice(0, l);
        const expected = [...new Set(rows.filter((r) => r.slice(0, l).join() === prefix.join()).map((r) => r[l]!))].sort((a, b) => a - b);
        assert.deepEqual([...trie.allowedNext(prefix)], expected);
      }
    });
  }
});

test('vocabulary: tokens, item strings and their parsing round-trip', () => {
  const vocab = new SemanticVocabulary([3, 4, 2], true);
  assert.equal(vocab.levels, 3);
  assert.equal(codeToken(1, 12), '<C1_12>');
  const tokens = vocab.tokens();
  assert.equal(tokens.length, 9);
  assert.deepEqual(tokens.slice(0, 4), ['<C0_0>', '<C0_1>', '<C0_2>', '<C1_0>']);
  assert.equal(tokens.at(-1), '<C2_1>');
  const text = vocab.itemTokens([2, 3, 1]);
  assert.equal(text, '<C0_2><C1_3><C2_1>');
  assert.deepEqual([...vocab.parse(text)], [2, 3, 1]);
  assert.deepEqual(vocab.allItemTokens(Int32Array.from([0, 0, 0, 1, 2, 1])), ['<C0_0><C1_0><C2_0>', '<C0_1><C1_2><C2_1>']);
  for (const wrong of ['<C0_2><C1_3>', '<C0_2><C1_4><C2_1>', '<C1_2><C0_3><C2_1>', '<C0_2> <C1_3><C2_1>', '<C0_2><C1_3><C2_1>x', '<C0_02><C1_3><C2_1>', '<C0_2><C1_3><C2_1><C3_0>', '']) {
    assert.equal(vocab.tryParse(wrong), undefined, wrong);
  }
  assert.throws(() => vocab.parse('<C0_9>'), RangeError);
  assert.throws(() => vocab.itemTokens([3, 0, 0]), /code 3 at level 0/);
  assert.throws(() => vocab.itemTokens([0, 0]), RangeError);

  const back = SemanticVocabulary.fromJSON(JSON.parse(JSON.stringify(vocab.toJSON())));
  assert.deepEqual(back.toJSON(), vocab.toJSON());
  assert.throws(() => SemanticVocabulary.fromJSON({ ...vocab.toJSON(), tokens: tokens.slice(1) }, 'vocabulary.json'), BadInputError);
  assert.throws(() => SemanticVocabulary.fromJSON({ ...vocab.toJSON(), levels: 2 }), BadInputError);
});
