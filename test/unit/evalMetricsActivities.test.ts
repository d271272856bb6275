/**
 * The evaluate stage's Temporal adapter (activities/evaluate.ts) in a mock activity context:
 * plan, two shards, merge, a re-plan with another shard count that finds the published result,
 * and bad settings failing as non-retryable.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { evaluateActivities } from '../../activities/evaluate.js';
import { DEFAULT_EVALUATE_SETTINGS } from '../../src/eval/settings.js';
import type { ModelLoader } from '../../src/eval/stage.js';
import type { StageName, StageOutput } from '../../src/pipeline/contracts.js';
import { LocalArtifactStore } from '../../src/store/localStore.js';
import { HashModel, TEST_TOKENS, writeFixtureDataset } from './searchFakes.js';

let root: string;
let store: LocalArtifactStore;
let upstream: Record<string, StageOutput>;

const loadModel: ModelLoader = async () => ({
  sessions: new HashModel(9),
  tokens: TEST_TOKENS,
  renderPrompt: (history, template) => Int32Array.of(template, ...history),
  seqrecTemplates: [0, 1],
  describe: 'hash model',
  dispose() {},
});

/** Runs an activity in a mock context, keeping its types. */
function runner() {
  const env = new MockActivityEnvironment();
  return <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> => env.run(fn as never, ...(args as unknown as never[])) as Promise<R>;
}

async function publishDir(stage: string, key: string, from: string): Promise<StageOutput> {
  const { cp } = await import('node:fs/promises');
  const attempt = await store.beginAttempt(stage, key, 'a1');
  await cp(from, attempt.dir, { recursive: true });
  const { manifest } = await store.publish(attempt, { summary: {}, keyInputs: {} });
  return { stage: stage as StageName, key, attempt: manifest.attempt, files: manifest.files, summary: {} };
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'lcrec-eval-activities-'));
  store = new LocalArtifactStore(join(root, 'artifacts'));
  const fixture = await writeFixtureDataset(join(root, 'fixture'), 20);
  upstream = { ingest: await publishDir('ingest', 'ingest-k', fixture.ingest), semid: await publishDir('semid', 'semid-k', fixture.semid) };
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('plan, two shards on their own, merge; another shard count finds the published evaluation', async () => {
  const acts = evaluateActivities({ store, home: root }, loadModel);
  const run = runner();
  const settings = { ...DEFAULT_EVALUATE_SETTINGS, shards: 2, batchPrompts: 1 };
  const plan = await run(acts.planEvaluate, settings, upstream);
  assert.equal(plan.cached, undefined);
  const shardPlans = [await run(acts.planEvaluateShard, plan, 0), await run(acts.planEvaluateShard, plan, 1)];
  assert.notEqual(shardPlans[0]!.key, shardPlans[1]!.key);
  const outs = [await run(acts.evaluateShard, shardPlans[1]!), await run(acts.evaluateShard, shardPlans[0]!)];
  assert.deepEqual(outs.map((o) => o.summary.shard), [1, 0]);
  const merged = await run(acts.mergeEvaluation, plan, outs);
  const table = merged.summary.metrics as Record<string, Record<string, Record<string, number>>>;
  const users = merged.summary.users as number;
  assert.ok(users > 15);
  const file = merged.files.find((f) => f.name === 'metrics.json');
  assert.ok(file && merged.files.some((f) => f.name === 'predictions.parquet') && merged.files.some((f) => f.name === 'targets.parquet'));
  const metrics = JSON.parse(await readFile(join(root, 'artifacts', 'evaluate', plan.key, 'attempts', merged.attempt, 'metrics.json'), 'utf8'));
  assert.equal(table['lc-rec']!.test!['recall@10'], metrics.splits.test.mean['recall@10']);
  // The shard count is not part of the key: a 3-shard run reuses this evaluation.
  const again = await run(acts.planEvaluate, { ...settings, shards: 3 }, upstream);
  assert.equal(again.key, plan.key);
  assert.equal(again.cached?.attempt, merged.attempt);
  // The batch size is (a real model's last bits depend on it).
  const other = await run(acts.planEvaluate, { ...settings, batchPrompts: 2 }, upstream);
  assert.notEqual(other.key, plan.key);
});

test('bad settings fail at once, non-retryable, naming the key', async () => {
  const acts = evaluateActivities({ store, home: root }, loadModel);
  const run = runner();
  await assert.rejects(run(acts.planEvaluate, { ...DEFAULT_EVALUATE_SETTINGS, beamWidth: 3 }, upstream), (err: unknown) => {
    return err instanceof ApplicationFailure && err.nonRetryable === true && err.type === 'BadInputError' && /evaluate\.beamWidth/.test(err.message);
  });
  const plan = await run(acts.planEvaluate, { ...DEFAULT_EVALUATE_SETTINGS, template: 7 }, upstream);
  const shard = await run(acts.planEvaluateShard, plan, 0);
  await assert.rejects(run(acts.evaluateShard, shard), (err: unknown) => err instanceof ApplicationFailure && err.nonRetryable === true && /7 is not a seqrec template/.test(err.message));
});
