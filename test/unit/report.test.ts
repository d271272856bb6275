import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BadInputError } from '../../src/errors.js';
import { evaluationMetrics } from '../../src/eval/evaluationFiles.js';
import type { EvaluationPart } from '../../src/eval/generative.js';
import { writeTrainingLog, type TrainingLog } from '../../src/finetune/trainingLog.js';
import { metricsChart, renderSvg } from '../../src/report/charts.js';
import { collectReportData } from '../../src/report/collect.js';
import type { ReportData } from '../../src/report/collect.js';
import { escapeHtml, MODEL_ROW, renderReportHtml } from '../../src/report/html.js';
import { TrainingLogSchema } from '../../src/report/llmFiles.js';
import { GENREC_REFERENCES, referenceFor } from '../../src/report/references.js';
import { readJsonFile } from '../../src/report/stageFiles.js';
import { buildReportHtml } from '../../src/report/writeReport.js';
import { LocalArtifactStore } from '../../src/store/localStore.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lcrec-report-unit-'));
});
after(async () => rm(work, { recursive: true, force: true }));

test('escapeHtml neutralises markup and both quote kinds', () => {
  assert.equal(escapeHtml(`<a href="x" title='y'>&</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
});

test('published references are found by run name or dataset path, never for the synthetic sample', () => {
  assert.equal(referenceFor({ source: '../shared/datasets/amazon2014-beauty', name: 'paper' })?.dataset, 'beauty');
  assert.equal(referenceFor({ source: '/data/x', name: 'cpu-beauty' })?.dataset, 'beauty');
  assert.equal(referenceFor({ source: '/data/reviews_Sports_and_Outdoors_5.json.gz', name: 'paper' })?.dataset, 'sports');
  assert.equal(referenceFor({ source: '/data/Toys/', name: 'run' })?.dataset, 'toys');
  assert.equal(referenceFor({ source: 'sample', name: 'beauty' }), undefined);
  assert.equal(referenceFor({ source: '/data/games', name: 'paper' }), undefined);
  // genrec's LC-Rec row is its validation split (spec G.2); the others are test figures.
  const lcrec = GENREC_REFERENCES.beauty.rows.find((r) => r.model.startsWith('LCRec'))!;
  assert.deepEqual([lcrec.split, lcrec['recall@10'], lcrec['ndcg@10']], ['valid', 0.0791, 0.0438]);
  assert.ok(GENREC_REFERENCES.beauty.rows.filter((r) => r !== lcrec).every((r) => r.split === 'test'));
});

test('Vega renders chart text from the data escaped', async () => {
  const svg = await renderSvg(metricsChart([{ model: '<b>x&y</b>', split: 'test', metric: 'Recall@10', value: 0.5 }]));
  assert.match(svg, /^<svg/);
  assert.ok(!svg.includes('<b>'), 'no raw markup from data');
  assert.match(svg, /&lt;b&gt;x&amp;y&lt;\/b&gt;/);
});

test('a training log that breaks the format names the file and the field', async () => {
  const file = join(work, 'bad_log.json');
  await writeFile(file, JSON.stringify({ format: 'lcrec-finetune-log/1', steps: [{ step: 1, epoch: 0.1, loss: 'high', lr: 1e-4 }], validation: [] }));
  await assert.rejects(readJsonFile(file, TrainingLogSchema), (err: unknown) => {
    assert.ok(err instanceof BadInputError);
    assert.match(err.message, /bad_log\.json, field 'steps\.0\.loss'/);
    return true;
  });
  await writeFile(file, '{"format": ');
  await assert.rejects(readJsonFile(file, TrainingLogSchema), /bad_log\.json: not valid JSON/);
});

/** One evaluated part: the targets' ranks among the beams of four users. */
function part(split: 'valid' | 'test', template: number, ranks: number[]): EvaluationPart {
  const empty = { user: new Int32Array(0), rank: new Int32Array(0), item: new Int32Array(0), score: new Float64Array(0) };
  return { split, template, users: { from: 0, to: ranks.length }, target: new Int32Array(ranks.length), targetRank: Int32Array.from(ranks), predictions: empty };
}

/** Publishes `files` as stage `stage` of a store, as a finished attempt. */
async function publish(store: LocalArtifactStore, stage: string, files: Record<string, string>, summary: Record<string, unknown> = {}) {
  const attempt = await store.beginAttempt(stage, `${stage}-k1`, 'run1-a1');
  for (const [name, text] of Object.entries(files)) await writeFile(join(attempt.dir, name), text);
  const { manifest } = await store.publish(attempt, { summary: { ...summary, durationMs: 1234 }, keyInputs: {} });
  return { stage, state: 'done', key: manifest.key, attempt: manifest.attempt, durationMs: 1300, summary: manifest.summary };
}

test('the LLM sections show the evaluate stage\'s template mean, each template, and the fine-tuning curves', async () => {
  const store = new LocalArtifactStore(join(work, 'llm-store'));
  // Template 0 ranks 0, 3, absent, 9; template 1 ranks 1, absent, absent, 0 (four users, test split).
  const metrics = evaluationMetrics({ users: { from: 0, to: 4 }, beamWidth: 10, parts: [part('test', 0, [0, 3, -1, 9]), part('test', 1, [1, -1, -1, 0])] });
  const log: TrainingLog = {
    format: 'lcrec-finetune-log/1',
    mode: 'lora',
    steps: [1, 2, 3, 4].map((step) => ({ step, epoch: step / 2, loss: 4 / step, lr: 1e-4, gradNorm: 1, tokens: 100 })),
    validation: [
      { epoch: 1, step: 2, trainLoss: 3, loss: 2.5, tokens: 50, recallAt10: 0.2, truncatedPrompts: 0 },
      { epoch: 2, step: 4, trainLoss: 1.5, loss: 2.25, tokens: 50, recallAt10: 0.3, truncatedPrompts: 0 },
    ],
    selectBy: 'recall',
    bestEpoch: 2,
    totalSteps: 4,
    stepsPerEpoch: 2,
    resumedFromStep: null,
  };
  const logDir = await mkdtemp(join(work, 'log-'));
  await writeTrainingLog(logDir, log);
  const stages = [
    await publish(store, 'finetune', { 'training_log.json': await readFile(join(logDir, 'training_log.json'), 'utf8') }),
    await publish(store, 'evaluate-shard', { 'shard.json': '{}' }, { shard: 0, shards: 1, model: 'qwen3 2-layer test model' }),
    await publish(store, 'evaluate', { 'metrics.json': JSON.stringify(metrics) }, { users: 4, modelSeconds: 1.5, searchSeconds: 0.25 }),
    { stage: 'semid', state: 'failed', error: 'semid: <img src=x onerror=alert(1)> broke' },
    { stage: 'prompts', state: 'running' },
  ];
  await store.putRunManifest({
    schema: 'lcrec.run/1',
    workflowId: 'wf-llm',
    runId: 'run1',
    name: '<script>alert(1)</script>',
    state: 'failed',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    config: { name: 'x', dataset: { source: '/data/"quoted"<path>', format: 'lcrec' } },
    stages,
  });

  const data = await collectReportData(store, 'wf-llm');
  const html = await buildReportHtml(data, new Date('2026-01-02T00:00:00Z'));
  if (process.env.LCREC_REPORT_SAMPLE_OUT) await writeFile(process.env.LCREC_REPORT_SAMPLE_OUT, html);
  // Hand-computed: template 0 R@10 = 3/4, N@10 = (1 + 1/log2 5 + 1/log2 11) / 4; template 1 R@10 = 2/4, N@10 = (1/log2 3 + 1) / 4.
  const n10 = [(1 + 1 / Math.log2(5) + 1 / Math.log2(11)) / 4, (1 / Math.log2(3) + 1) / 4];
  const cell = (metric: string) => new RegExp(`data-model="${escapeHtml(MODEL_ROW).replace(/[()]/g, '\\$&')}" data-split="test" data-metric="${metric}">(?:<strong>)?([0-9.]+)`).exec(html)?.[1];
  assert.equal(cell('recall@10'), '0.6250');
  assert.equal(cell('ndcg@10'), ((n10[0]! + n10[1]!) / 2).toFixed(4));
  assert.equal(cell('recall@1'), '0.2500');
  assert.match(html, /id="template-table"/);
  assert.ok(html.includes(`<td class="num">${n10[1]!.toFixed(4)}</td>`), 'template 1 row shows its own NDCG@10');
  assert.match(html, /beam width 10, mean over 2 seqrec templates \(0, 1\); model qwen3 2-layer test model/);
  assert.match(html, /<h3>LLM fine-tuning<\/h3>/);
  assert.match(html, /epoch kept<\/dt><dd>2 \(by recall\), validation loss 2\.25, validation Recall@10 0\.3000/);
  assert.ok((html.match(/<svg/g) ?? []).length >= 2, 'LLM loss chart and metrics chart');
  // Missing stages are listed, the failed one too, and nothing from the run reaches the page unescaped.
  assert.match(html, /no ingest stage in this run/);
  assert.match(html, /stage semid failed: semid: &lt;img src=x onerror=alert\(1\)&gt; broke/);
  assert.match(html, /stage prompts is running: its results are not in this report yet/);
  assert.ok(!html.includes('<script') && !html.includes('<img'), 'no markup from the run');
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(html, /\/data\/&quot;quoted&quot;&lt;path&gt;/);
});

test('the published table is labelled by split and says whether the run used a dataset of the same size', () => {
  const data = (users: number): ReportData => ({
    run: { workflowId: 'wf', runId: 'r', name: 'cpu-beauty', state: 'completed', startedAt: '2026-01-01T00:00:00Z', datasetSource: '/d/amazon2014-beauty', datasetFormat: 'lcrec', config: {} },
    stages: [],
    dataset: { stats: { users, items: 12_101, interactions: 198_502 }, lengthCounts: [] },
    reference: referenceFor({ source: '/d/amazon2014-beauty', name: 'cpu-beauty' }),
    notes: [],
  });
  const same = renderReportHtml(data(22_363), {}, 'now');
  assert.match(same, /<h3>Published reference: Amazon 2014 Beauty \(5-core\)<\/h3>/);
  assert.match(same, /LCRec \(genrec\)<\/th><td>valid \(most likely\)<\/td><td class="num">0\.0525<\/td><td class="num">0\.0791<\/td>/);
  assert.match(same, /SASRec<\/th><td>test<\/td><td class="num">0\.0469<\/td>/);
  assert.match(same, /same size \(22,363 users \/ 12,101 items\)/);
  assert.match(renderReportHtml(data(570), {}, 'now'), /differs in size<\/strong> \(570 users \/ 12,101 items vs 22,363 users/);
});

test('an artifact store without the run says so', async () => {
  const store = new LocalArtifactStore(join(work, 'empty-store'));
  await assert.rejects(collectReportData(store, 'wf-missing'), (err: unknown) => err instanceof BadInputError && /no run "wf-missing"/.test(err.message));
});
