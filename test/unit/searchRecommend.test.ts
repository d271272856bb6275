import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { recommendCommand, type RecommendFlags } from '../../cli/recommendCommand.js';
import { BadInputError } from '../../src/errors.js';
import { readEvaluationMetrics } from '../../src/eval/evaluationFiles.js';
import { DEFAULT_EVALUATE_SETTINGS } from '../../src/eval/settings.js';
import { metricsSummary, runEvaluateMerge, runEvaluateShard, type ModelLoader } from '../../src/eval/stage.js';
import { constrainedBeamSearch } from '../../src/search/beamSearch.js';
import { DecodingTrie } from '../../src/search/decodingTrie.js';
import { parseUsersFile } from '../../src/search/recommend.js';
import { readSemanticIds } from '../../src/semid/writeSemanticIds.js';
import { LocalArtifactStore } from '../../src/store/localStore.js';
import { readParquet } from '../../src/tables/parquet.js';
import { fixtureAsin, HashModel, TEST_TOKENS, writeFixtureDataset } from './searchFakes.js';

const asin = fixtureAsin;
let root: string;
let store: LocalArtifactStore;
let loads = 0;

/** The fake model of these tests: prompt = [template, ...history item ids]. */
const loadModel: ModelLoader = async () => {
  loads++;
  return {
    sessions: new HashModel(5),
    tokens: TEST_TOKENS,
    renderPrompt: (history, template) => Int32Array.of(template, ...history),
    seqrecTemplates: [0, 1, 2],
    describe: 'hash model',
    dispose() {},
  };
};

async function publish(stage: string, key: string, write: (dir: string) => Promise<unknown>) {
  const attempt = await store.beginAttempt(stage, key, 'a1');
  await write(attempt.dir);
  await store.publish(attempt, { summary: {}, keyInputs: {} });
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'lcrec-recommend-'));
  store = new LocalArtifactStore(join(root, 'artifacts'));
  // The fixture dataset and IDs, published as the stages' artifacts.
  const fixture = await writeFixtureDataset(join(root, 'fixture'));
  await publish('ingest', 'ingest-k', (dir) => cp(fixture.ingest, dir, { recursive: true }));
  await publish('semid', 'semid-k', (dir) => cp(fixture.semid, dir, { recursive: true }));
  const dirs = { ingest: join(root, 'artifacts/ingest/ingest-k/attempts/a1'), semid: join(root, 'artifacts/semid/semid-k/attempts/a1') };
  // The evaluate stage through its library calls: 2 shards, then the merge.
  const settings = { ...DEFAULT_EVALUATE_SETTINGS, shards: 2, batchPrompts: 4 };
  const shardDirs = [join(root, 'shard0'), join(root, 'shard1')];
  for (const [s, dir] of shardDirs.entries()) {
    const summary = await runEvaluateShard({ dirs }, dir, settings, s, loadModel);
    assert.equal(summary.shards, 2);
  }
  await publish('evaluate', 'evaluate-k', (dir) => runEvaluateMerge(dirs.ingest, shardDirs.reverse(), dir));
  const stages = [
    { stage: 'ingest', state: 'done', key: 'ingest-k' },
    { stage: 'semid', state: 'cached', key: 'semid-k' },
    { stage: 'evaluate', state: 'done', key: 'evaluate-k' },
  ];
  const config = { evaluate: { ...DEFAULT_EVALUATE_SETTINGS, beamWidth: 10 } };
  await store.putRunManifest({ schema: 'lcrec.run/1', workflowId: 'run-ok', runId: 'r1', startedAt: '2026-01-01T00:00:00Z', stages, config });
  await store.putRunManifest({ schema: 'lcrec.run/1', workflowId: 'run-busy', runId: 'r1', startedAt: '2026-01-01T00:00:00Z', stages: [...stages.slice(0, 2), { stage: 'evaluate', state: 'running' }], config });
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

function sink() {
  let text = '';
  return { out: { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream, text: () => text };
}

const run = (flags: Partial<RecommendFlags>, out = sink().out) => recommendCommand({ run: 'run-ok', top: 5, ...flags }, { store, loadModel, out });

test('the evaluate stage (2 shards, merged) reports every user on valid and test', async () => {
  const m = await readEvaluationMetrics(join(root, 'artifacts/evaluate/evaluate-k/attempts/a1'));
  assert.equal(m.users, 9);
  assert.deepEqual(Object.keys(m.splits), ['valid', 'test']);
  assert.equal(m.beamWidth, 10);
  const summary = metricsSummary(m);
  assert.deepEqual(Object.keys(summary), ['lc-rec']);
  assert.equal(summary['lc-rec']!.test!['ndcg@10'], m.splits.test!.mean['ndcg@10']);
});

test("recommend maps ASINs to items and returns the search's top K with titles and scores", async () => {
  const s = sink();
  const [list] = await run({ history: `${asin(3)}, ${asin(7)}` }, s.out);
  // The same search, directly: prompt [template 0, 3, 7].
  const ids = await readSemanticIds(join(root, 'artifacts/semid/semid-k/attempts/a1'));
  const trie = DecodingTrie.fromSemanticIds(ids.trie, TEST_TOKENS);
  const [direct] = await constrainedBeamSearch(new HashModel(5), [Int32Array.of(0, 3, 7)], trie, 10);
  assert.deepEqual(list!.map((r) => r.item), Array.from(direct!.items.subarray(0, 5)));
  assert.deepEqual(list!.map((r) => r.score), Array.from(direct!.scores.subarray(0, 5)));
  assert.deepEqual(list!.map((r) => r.rank), [1, 2, 3, 4, 5]);
  for (const r of list!) {
    assert.equal(r.asin, asin(r.item));
    assert.equal(r.title, `Lipstick number ${r.item}.`, 'the title as ingestion cleaned it');
  }
  assert.match(s.text(), new RegExp(`${asin(list![0]!.item)}\\s+-?\\d+\\.\\d{4}\\s+Lipstick number ${list![0]!.item}`));
});

test('bad input: unknown items named, empty history, K above the beam width, missing or unfinished runs', async () => {
  const before = loads;
  const bad = async (flags: Partial<RecommendFlags>, pattern: RegExp) =>
    assert.rejects(run(flags), (err: unknown) => err instanceof BadInputError && pattern.test(err.message), String(pattern));
  await bad({ history: `${asin(1)},NOPE1,${asin(2)},NOPE2` }, /unknown items NOPE1, NOPE2/);
  await bad({ history: ' , ' }, /history is empty/);
  await bad({ history: asin(1), top: 11 }, /--top 11 is larger than the beam width 10/);
  await bad({ history: asin(1), top: 12, beam: 11 }, /--top 12 is larger than the beam width 11/);
  await bad({ history: asin(1), top: 0 }, /--top.*positive integer/);
  await bad({ run: 'no-such-run', history: asin(1) }, /no run 'no-such-run'/);
  await bad({ run: 'run-busy', history: asin(1) }, /no finished evaluate stage \(state: running\)/);
  await bad({ run: '../etc', history: asin(1) }, /invalid/);
  await bad({}, /exactly one of --history/);
  assert.equal(loads, before, 'no model is loaded for bad input');
});

test('--users-file writes one ranked list per user to Parquet; a bad line is named', async () => {
  const file = join(root, 'users.txt');
  await writeFile(file, `# user<TAB>history\nalice\t${asin(1)},${asin(2)}\n\n${asin(4)}\n`);
  const out = join(root, 'recs.parquet');
  const lists = await run({ usersFile: file, out, top: 3 });
  assert.equal(lists.length, 2);
  const table = await readParquet(out);
  assert.equal(table.numRows, 6);
  assert.deepEqual(table.schema.fields.map((f) => f.name), ['user', 'rank', 'item_id', 'asin', 'source_id', 'title', 'score']);
  assert.equal(table.getChild('user')!.get(0), 'alice');
  assert.equal(table.getChild('user')!.get(3), '4', 'a line without a label is named by its line number');
  await writeFile(file, `alice\t${asin(1)}\nbob\t${asin(2)},XYZ\n`);
  await assert.rejects(run({ usersFile: file, out, top: 3 }), (err: unknown) => err instanceof BadInputError && err.message.startsWith(`${file}:2: unknown item XYZ`));
  await assert.rejects(run({ usersFile: file, top: 3 }), /--out/);
  assert.throws(() => parseUsersFile('a\tx\na\ty\n', 'f.txt'), /f\.txt:2: user a appears again \(first on line 1\)/);
  assert.throws(() => parseUsersFile('a\t\n', 'f.txt'), /f\.txt:1: user a: the history is empty/);
});
