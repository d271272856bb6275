/**
 * `lcrec report` end to end: the stages that exist (ingest, baselines, embed, RQ-VAE, semantic
 * IDs) run on the bundled synthetic sample and publish into a temporary artifact store the way
 * the activities do; a run manifest records them; the report is written by the CLI command and
 * opened in headless Chromium, which must log no error, request nothing but the file itself, and
 * show the run's own metrics in its table. A screenshot is saved beside the report.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { writeSyntheticDataset } from '../../datasets/synthetic.js';
import { ensureChromium, inspectPage } from '../../infra/chromium.js';
import { Command, Option } from 'commander';
import { registerReportCommand, reportCommand } from '../../cli/reportCommand.js';
import { BASELINES_CODE_VERSION, runBaselines } from '../../src/baselines/runBaselines.js';
import { resolveConfig } from '../../src/config/load.js';
import type { PipelineConfig } from '../../src/config/schema.js';
import { ingest, INGEST_CODE_VERSION } from '../../src/data/ingest.js';
import { embedItems, EMBED_CODE_VERSION } from '../../src/embed/embedItems.js';
import { EMBEDDINGS_FILE } from '../../src/embed/writeEmbeddings.js';
import { BadInputError } from '../../src/errors.js';
import { collectReportData } from '../../src/report/collect.js';
import { TABLE_METRICS } from '../../src/report/html.js';
import { RQVAE_CODE_VERSION, runRqvaeStage } from '../../src/rqvae/stage.js';
import { SEMID_VERSION } from '../../src/semid/assign.js';
import { runSemidStage } from '../../src/semid/stage.js';
import type { ArtifactStore } from '../../src/store/artifactStore.js';
import { stageKey } from '../../src/store/keys.js';
import { LocalArtifactStore } from '../../src/store/localStore.js';
import { describeBackend, selectedBackend } from '../../src/tensor/backend.js';
import { environmentFacts } from '../../src/util/environment.js';

const WORKFLOW_ID = 'lcrec-sample-reporttest';
const RUN_ID = 'run-0001';

let work: string;
let store: LocalArtifactStore;
let config: PipelineConfig;

interface StageRecord {
  stage: string;
  state: 'done';
  key: string;
  attempt: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  summary: Record<string, unknown>;
}

/** One stage as runStage does it: attempt workspace, work, publish with the summary and duration. */
async function publishStage(
  artifacts: ArtifactStore,
  stage: string,
  key: { codeVersion: string; config: unknown; inputs: Record<string, string> },
  run: (dir: string) => Promise<Record<string, unknown>>,
): Promise<StageRecord & { dir: string }> {
  const startedAt = new Date();
  const keyInputs = { stage, ...key };
  const attempt = await artifacts.beginAttempt(stage, stageKey(keyInputs), `${RUN_ID}-a1`);
  const summary = await run(attempt.dir);
  const durationMs = Date.now() - startedAt.getTime();
  const { manifest } = await artifacts.publish(attempt, { summary: { ...summary, durationMs }, keyInputs });
  return {
    stage,
    state: 'done',
    key: manifest.key,
    attempt: manifest.attempt,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs,
    summary: manifest.summary,
    dir: await artifacts.localDir(manifest),
  };
}

/** ingest -> baselines, embed -> rqvae -> semid of the sample, published, and the run manifest. */
async function runSamplePipeline(artifacts: LocalArtifactStore): Promise<void> {
  const startedAt = new Date().toISOString();
  const raw = join(work, 'raw');
  await writeSyntheticDataset(raw, config.dataset.sample);
  const ingested = await publishStage(artifacts, 'ingest', { codeVersion: INGEST_CODE_VERSION, config: { ingest: config.ingest }, inputs: { sample: 'synthetic' } }, async (dir) => {
    const { users, items, interactions, dropped } = await ingest(raw, 'amazon2014', config.ingest, dir);
    return { users, items, interactions, dropped };
  });
  const baselines = await publishStage(artifacts, 'baselines', { codeVersion: BASELINES_CODE_VERSION, config: config.baselines, inputs: { ingest: ingested.key } }, async (dir) => {
    const report = await runBaselines(ingested.dir, dir, config.baselines, { seed: config.seed });
    const metrics: Record<string, Record<string, unknown>> = {};
    for (const [split, models] of Object.entries(report.splits)) for (const [model, m] of Object.entries(models)) (metrics[model] ??= {})[split] = m;
    return { metrics, ...(report.sasrec ? { sasrec: { bestEpoch: report.sasrec.bestEpoch, backend: report.sasrec.backend } } : {}) };
  });
  const embedded = await publishStage(artifacts, 'embed', { codeVersion: EMBED_CODE_VERSION, config: config.embed, inputs: { ingest: ingested.key } }, async (dir) => {
    const { encoder, items, dim } = await embedItems({ itemsPath: join(ingested.dir, 'items.parquet'), outDir: dir, settings: config.embed, seed: config.seed });
    return { encoder, items, dim };
  });
  const embeddings = join(embedded.dir, EMBEDDINGS_FILE);
  const rqvae = await publishStage(artifacts, 'rqvae', { codeVersion: RQVAE_CODE_VERSION, config: config.rqvae, inputs: { embed: embedded.key } }, (dir) =>
    runRqvaeStage(embeddings, dir, config.rqvae, { seed: config.seed }),
  );
  const semid = await publishStage(artifacts, 'semid', { codeVersion: SEMID_VERSION, config: config.semid, inputs: { rqvae: rqvae.key } }, (dir) =>
    runSemidStage(embeddings, rqvae.dir, dir, config.semid),
  );
  const backend = await selectedBackend();
  await artifacts.putRunManifest({
    schema: 'lcrec.run/1',
    workflowId: WORKFLOW_ID,
    runId: RUN_ID,
    name: config.name,
    state: 'completed',
    startedAt,
    finishedAt: new Date().toISOString(),
    stages: [ingested, baselines, embedded, rqvae, semid].map(({ dir: _dir, ...record }) => record),
    seed: config.seed,
    config,
    codeVersion: 'test',
    artifactStore: artifacts.location,
    environment: await environmentFacts(backend ? describeBackend(backend) : null),
  });
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lcrec-report-'));
  store = new LocalArtifactStore(join(work, 'artifacts'));
  // Small but real: SASRec for two epochs, a short RQ-VAE schedule with several evaluations.
  config = await resolveConfig({
    preset: 'tiny',
    sets: ['baselines.sasrec.maxEpochs=2', 'rqvae.epochs=30', 'rqvae.evalEvery=5', 'rqvae.warmupEpochs=2'],
  });
  await runSamplePipeline(store);
});
after(async () => rm(work, { recursive: true, force: true }));

test('the report of a sample run renders in headless Chromium with the run\'s own metrics and no console error', async () => {
  const file = join(work, 'out', 'report.html');
  const printed: string[] = [];
  const written = await reportCommand(WORKFLOW_ID, { out: file }, { store, out: { write: (s: string) => printed.push(s) } as unknown as NodeJS.WritableStream });
  assert.equal(written, file);
  assert.match(printed.join(''), /wrote .*report\.html/);

  const screenshot = join(work, 'out', 'report.png');
  const page = await inspectPage(file, {
    chromium: await ensureChromium(),
    screenshot,
    expression: `({
      cells: [...document.querySelectorAll('#metrics-table td[data-metric]')].map((td) => [td.dataset.model, td.dataset.split, td.dataset.metric, td.textContent]),
      sections: [...document.querySelectorAll('section[id]')].map((s) => s.id),
      charts: document.querySelectorAll('figure svg').length,
      stages: [...document.querySelectorAll('#stages-table tbody th')].map((th) => th.textContent),
      users: document.querySelector('#dataset dd').textContent,
    })`,
  });
  assert.deepEqual(page.errors, [], 'no console errors, exceptions or blocked loads');
  assert.deepEqual(page.requests, [pathToFileURL(file).href], 'the page loads nothing but itself');

  const value = page.value as { cells: [string, string, string, string][]; sections: string[]; charts: number; stages: string[]; users: string };
  // Every baseline metric of the run, as metrics.json holds it, is in the table.
  const data = await collectReportData(store, WORKFLOW_ID);
  const baselines = data.stages.find((s) => s.stage === 'baselines')!;
  const metrics = JSON.parse(await readFile(join(work, 'artifacts', 'baselines', baselines.key!, 'attempts', baselines.attempt!, 'metrics.json'), 'utf8')) as {
    splits: Record<string, Record<string, Record<string, number>>>;
  };
  const expected: [string, string, string, string][] = [];
  for (const model of config.baselines.models) {
    for (const split of ['valid', 'test']) for (const metric of TABLE_METRICS) expected.push([model, split, metric, metrics.splits[split]![model]![metric]!.toFixed(4)]);
  }
  assert.deepEqual(
    value.cells.map((c) => c.join(' ')).sort(),
    expected.map((c) => c.join(' ')).sort(),
  );
  assert.ok(value.cells.some(([, , , text]) => Number(text) > 0), 'the baselines found some targets');
  assert.deepEqual(value.sections, ['results', 'dataset', 'rqvae', 'semid', 'training', 'stages', 'config']);
  assert.ok(value.charts >= 6, `metrics, lengths, RQ-VAE curves, level usage, code usage, SASRec charts (found ${value.charts})`);
  assert.deepEqual(value.stages, ['ingest', 'baselines', 'embed', 'rqvae', 'semid']);
  assert.equal(value.users, data.dataset!.stats.users.toLocaleString('en-US'));

  const png = await readFile(screenshot);
  assert.deepEqual([...png.subarray(1, 4)].map((b) => String.fromCharCode(b)).join(''), 'PNG');
  assert.ok((await stat(screenshot)).size > 20_000, 'a full-page screenshot, not an empty one');
  assert.ok(page.height > 2000, `the page is the whole report (${page.height} px high)`);
});

test('a run id that does not exist is a clear error naming the store', async () => {
  await assert.rejects(reportCommand('lcrec-no-such-run', { out: join(work, 'none.html') }, { store }), (err: unknown) => {
    assert.ok(err instanceof BadInputError);
    assert.match(err.message, /no run "lcrec-no-such-run" in .*artifacts/);
    return true;
  });
  await assert.rejects(stat(join(work, 'none.html')), 'nothing is written');
});

test('`lcrec report RUN --artifacts ROOT -o FILE` as registered on the command line', async () => {
  const program = new Command('lcrec').exitOverride().hook('preAction', (_program, action) => {
    const root = action.opts().artifacts as unknown;
    if (typeof root === 'string') process.env.LCREC_ARTIFACTS = root;
  });
  registerReportCommand(program, () => new Option('--artifacts <root>', 'artifact root'));
  const before = process.env.LCREC_ARTIFACTS;
  const file = join(work, 'cli', 'run.html');
  try {
    await program.parseAsync(['node', 'lcrec', 'report', WORKFLOW_ID, '--artifacts', store.location, '-o', file]);
  } finally {
    if (before === undefined) delete process.env.LCREC_ARTIFACTS;
    else process.env.LCREC_ARTIFACTS = before;
  }
  const html = await readFile(file, 'utf8');
  assert.match(html, new RegExp(`<title>lcrec report ${WORKFLOW_ID}</title>`));
  assert.match(html, /id="metrics-table"/);
});
