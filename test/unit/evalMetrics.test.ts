import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateUsers } from '../../src/eval/generative.js';
import { evaluationMetrics } from '../../src/eval/evaluationFiles.js';
import { metricsFromRanks, summarizeTemplates } from '../../src/eval/metrics.js';
import { DEFAULT_EVALUATE_SETTINGS, evaluationTemplates, parseEvaluateSettings, resultSettings } from '../../src/eval/settings.js';
import { BadInputError } from '../../src/errors.js';
import { DecodingTrie } from '../../src/search/decodingTrie.js';
import type { SessionFactory } from '../../src/search/decodeSession.js';
import { SemanticIdTrie } from '../../src/semid/trie.js';
import { TEST_TOKENS } from './searchFakes.js';

const close = (a: number, b: number, what: string, tol = 1e-12) => assert.ok(Math.abs(a - b) < tol, `${what}: ${a} vs ${b}`);

test('Recall@K and NDCG@K of a hand-computed list of target ranks', () => {
  // ranks 0, 2, absent, 9, 4 (0-based)
  const m = metricsFromRanks(Int32Array.of(0, 2, -1, 9, 4));
  assert.equal(m.users, 5);
  close(m['recall@1'], 1 / 5, 'R@1');
  close(m['recall@5'], 3 / 5, 'R@5');
  close(m['recall@10'], 4 / 5, 'R@10');
  close(m['ndcg@1'], 1 / 5, 'N@1');
  close(m['ndcg@5'], (1 + 1 / Math.log2(4) + 1 / Math.log2(6)) / 5, 'N@5');
  close(m['ndcg@10'], (1 + 1 / Math.log2(4) + 1 / Math.log2(6) + 1 / Math.log2(11)) / 5, 'N@10');
  const none = metricsFromRanks(new Int32Array(0));
  assert.equal(none['recall@10'], 0);
});

test('templates are summarised by their mean, min and max per metric', () => {
  const a = metricsFromRanks(Int32Array.of(0, -1));
  const b = metricsFromRanks(Int32Array.of(1, 1));
  const { mean, min, max } = summarizeTemplates([a, b]);
  close(mean['recall@1'], (0.5 + 0) / 2, 'mean R@1');
  close(mean['ndcg@5'], (0.5 + 1 / Math.log2(3)) / 2, 'mean N@5');
  close(min['recall@5'], 0.5, 'min R@5');
  close(max['recall@5'], 1, 'max R@5');
  assert.equal(mean.users, 2);
});

/**
 * Four items of two levels: 0 [0,0], 1 [0,1], 2 [1,0], 3 [1,1]. The model ignores the prompt:
 * level 0 logits (ln 3, 0) -> p = 3/4, 1/4; after code 0 (0, 0) -> 1/2, 1/2; after code 1 (0, ln 3) -> 1/4, 3/4.
 * P(item) = 0: 3/8, 1: 3/8, 2: 1/16, 3: 3/16, so the beams are 0, 1 (tie: lower code first), 3, 2.
 */
const tableModel: SessionFactory = {
  async start(prompts) {
    let last: number[] = prompts.map(() => -1);
    return {
      get rows() {
        return last.length;
      },
      async nextLogits(allowed) {
        return allowed.map((tokens, r) =>
          Float32Array.from(tokens, (t) => {
            const code = t - TEST_TOKENS.codeTokenId(last[r] === -1 ? 0 : 1, 0);
            if (last[r] === -1) return code === 0 ? Math.log(3) : 0;
            return last[r] === TEST_TOKENS.codeTokenId(0, 1) && code === 1 ? Math.log(3) : 0;
          }),
        );
      },
      async advance(parents, tokens) {
        last = Array.from(parents, (_p, j) => tokens[j]!);
      },
      dispose() {},
    };
  },
};

test('evaluation of a table-driven model: hand-computed beams, scores, ranks and metrics on valid and test', async () => {
  const trie = DecodingTrie.fromSemanticIds(SemanticIdTrie.build(Int32Array.from([0, 0, 0, 1, 1, 0, 1, 1]), 2), TEST_TOKENS);
  // valid targets (second to last): 0, 3, 2, 1; test targets (last): 1, 2, 2, 0
  const sequences = [
    [3, 2, 1, 0, 1],
    [1, 3, 2],
    [0, 0, 1, 2, 2],
    [2, 1, 0],
  ].map((s) => Int32Array.from(s));
  const rendered: string[] = [];
  const renderPrompt = (history: Int32Array, template: number) => {
    rendered.push(`${template}:${history.join(' ')}`);
    return Int32Array.of(template, ...history);
  };
  const ev = await evaluateUsers({ sessions: tableModel, trie, renderPrompt }, sequences, { from: 0, to: 4 }, {
    splits: ['valid', 'test'],
    templates: [0],
    beamWidth: 10,
    batchPrompts: 3,
    maxHistory: 2,
  });
  // histories capped at the 2 most recent items
  assert.deepEqual(rendered, ['0:2 1', '0:1', '0:0 1', '0:2', '0:1 0', '0:1 3', '0:1 2', '0:2 1']);
  const [valid, testPart] = ev.parts;
  assert.deepEqual(Array.from(valid!.predictions.item.subarray(0, 4)), [0, 1, 3, 2]);
  const expectScores = [3 / 8, 3 / 8, 3 / 16, 1 / 16].map(Math.log);
  valid!.predictions.score.subarray(0, 4).forEach((s, i) => close(s, expectScores[i]!, `score ${i}`, 1e-6)); // float32 logits
  assert.deepEqual(Array.from(valid!.predictions.user), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
  assert.deepEqual(Array.from(valid!.predictions.rank), [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
  assert.deepEqual(Array.from(valid!.target), [0, 3, 2, 1]);
  assert.deepEqual(Array.from(valid!.targetRank), [0, 2, 3, 1]);
  assert.deepEqual(Array.from(testPart!.targetRank), [1, 3, 3, 0]);
  const metrics = evaluationMetrics(ev);
  const v = metrics.splits.valid!.mean;
  close(v['recall@1'], 1 / 4, 'valid R@1');
  close(v['recall@5'], 1, 'valid R@5');
  close(v['ndcg@5'], (1 + 1 / Math.log2(4) + 1 / Math.log2(5) + 1 / Math.log2(3)) / 4, 'valid N@5');
  const t = metrics.splits.test!.templates['0']!;
  close(t['recall@1'], 1 / 4, 'test R@1');
  close(t['ndcg@10'], (1 / Math.log2(3) + 2 / Math.log2(5) + 1) / 4, 'test N@10');
  assert.deepEqual(metrics.templates, [0]);
  assert.equal(metrics.users, 4);
});

test('evaluation settings: defaults are valid; a bad value names its key; templates must exist', () => {
  assert.deepEqual(parseEvaluateSettings(DEFAULT_EVALUATE_SETTINGS), DEFAULT_EVALUATE_SETTINGS);
  assert.throws(() => parseEvaluateSettings({ ...DEFAULT_EVALUATE_SETTINGS, beamWidth: 5 }), (err: unknown) => err instanceof BadInputError && err.message.startsWith("field 'evaluate.beamWidth'"));
  assert.throws(() => parseEvaluateSettings({ ...DEFAULT_EVALUATE_SETTINGS, splits: ['train'] }), /evaluate\.splits\.0/);
  assert.deepEqual(evaluationTemplates({ ...DEFAULT_EVALUATE_SETTINGS, template: 3 }, [0, 1, 2, 3]), [3]);
  assert.deepEqual(evaluationTemplates({ ...DEFAULT_EVALUATE_SETTINGS, allTemplates: true }, [0, 1, 2]), [0, 1, 2]);
  assert.throws(() => evaluationTemplates({ ...DEFAULT_EVALUATE_SETTINGS, template: 17 }, [0, 1]), /evaluate\.template.*17 is not a seqrec template/);
  const { shards: _s, ...rest } = DEFAULT_EVALUATE_SETTINGS;
  assert.deepEqual(resultSettings({ ...DEFAULT_EVALUATE_SETTINGS, shards: 8 }), rest, 'the shard count is not part of the key');
});
