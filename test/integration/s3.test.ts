import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { WorkflowHandle } from '@temporalio/client';
import { normalizeConfig, workflowIdFor } from '../../cli/runCommand.js';
import { resolveConfig } from '../../src/config/load.js';
import type { PipelineConfig } from '../../src/config/schema.js';
import type { PipelineInput, RunStatus } from '../../src/pipeline/contracts.js';
import { createS3Client } from '../../src/store/s3Client.js';
import { S3ArtifactStore } from '../../src/store/s3Store.js';
import { TASK_QUEUES } from '../../workflows/queues.js';
import { freePort, startS3Server, type S3TestServer } from '../helpers/s3Server.js';
import { startTemporalFixture, type TemporalFixture } from '../helpers/temporalEnv.js';
import { QUICK_LLM_ARGS, QUICK_LLM_SETS } from '../helpers/quickLlm.js';

const BIN = fileURLToPath(new URL('../../bin/lcrec.js', import.meta.url));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `lcrec` with `env` and returns its exit code and output. */
function lcrec(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 400_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The environment of an lcrec process: only what it needs, nothing of the test's own AWS settings. */
function lcrecEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const key of ['TEMPORAL_ADDRESS', 'LCREC_ARTIFACTS', 'AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3']) {
    if (!(key in extra)) delete env[key];
  }
  return env;
}

describe('the pipeline with its artifact root in S3 (MinIO and a Temporal dev server)', () => {
  let s3: S3TestServer;
  let fx: TemporalFixture<S3ArtifactStore>;
  const prefix = 'it/artifacts';
  let firstIngestKey = '';
  let firstIngestAttempt = '';

  before(async () => {
    s3 = await startS3Server();
    fx = await startTemporalFixture({
      store: (home) =>
        new S3ArtifactStore(
          { bucket: s3.bucket, prefix },
          {
            settings: s3.settings,
            cacheDir: join(home, 'cache', 's3'),
            client: createS3Client(s3.settings, { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }),
          },
        ),
    });
  });
  after(async () => {
    await fx?.close();
    await s3?.stop();
  });

  async function start(config: PipelineConfig): Promise<WorkflowHandle> {
    const input: PipelineInput = { config: normalizeConfig(config), codeVersion: 'test' };
    return fx.env.client.workflow.start('pipelineWorkflow', {
      taskQueue: TASK_QUEUES.cpu,
      workflowId: workflowIdFor(input),
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  }

  test('tiny end to end: artifacts and run manifests land in the bucket; a rerun reuses every stage from S3', async () => {
    const config = await resolveConfig({ preset: 'tiny', sets: QUICK_LLM_SETS });
    const first = await start(config);
    const status = await fx.serve(first.result() as Promise<RunStatus>);
    assert.equal(status.state, 'completed');
    const ingest = status.stages.find((s) => s.stage === 'ingest')!;
    assert.equal(ingest.state, 'done');
    firstIngestKey = ingest.key!;
    firstIngestAttempt = ingest.attempt!;

    const keys = await s3.listKeys(`${prefix}/`);
    for (const name of ['interactions.parquet', 'items.parquet', 'sequences.parquet', 'stats.json']) {
      assert.ok(keys.includes(`${prefix}/ingest/${firstIngestKey}/attempts/${firstIngestAttempt}/${name}`), name);
    }
    assert.ok(keys.includes(`${prefix}/ingest/${firstIngestKey}/manifest.json`));
    assert.ok(keys.some((k) => k.startsWith(`${prefix}/baselines/`) && k.endsWith('/manifest.json')));
    assert.ok(keys.includes(`${prefix}/runs/${first.workflowId}/${status.runId}.json`));
    const manifest = await fx.store.getManifest('ingest', firstIngestKey);
    assert.equal(manifest?.files.length, 4);

    const second = await start(config);
    assert.equal(second.workflowId, first.workflowId);
    const again = await fx.serve(second.result() as Promise<RunStatus>);
    assert.equal(again.state, 'completed');
    assert.notEqual(again.runId, status.runId);
    assert.deepEqual(
      again.stages.map((s) => [s.stage, s.state, s.key]),
      status.stages.map((s) => [s.stage, 'cached', s.key]),
    );
    const attempts = (await s3.listKeys(`${prefix}/ingest/${firstIngestKey}/attempts/`)).map((k) => k.split('/')[5]);
    assert.deepEqual([...new Set(attempts)], [firstIngestAttempt], 'nothing was written twice');
    assert.equal((await fx.store.getRunManifest(first.workflowId))?.runId, again.runId);
  });

  test('a worker in a second process (`lcrec worker`, its own data directory) reads what the first wrote', async () => {
    const otherHome = await mkdtemp(join(tmpdir(), 'lcrec-s3w-'));
    const env = lcrecEnv({
      ...s3.env,
      TEMPORAL_ADDRESS: fx.env.address,
      LCREC_HOME: otherHome,
      LCREC_ARTIFACTS: `s3://${s3.bucket}/${prefix}`,
    });
    const worker = spawn(process.execPath, [BIN, 'worker', '--queue', 'all'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    worker.stdout.on('data', (d: Buffer) => (log += d.toString()));
    worker.stderr.on('data', (d: Buffer) => (log += d.toString()));
    try {
      // Same data and ingest config, other baselines settings: ingest is reused, baselines run there.
      const config = await resolveConfig({ preset: 'tiny', sets: ['baselines.topK=20', ...QUICK_LLM_SETS] });
      const handle = await start(config);
      const status = (await handle.result()) as RunStatus;
      assert.equal(status.state, 'completed', log);
      const ingest = status.stages.find((s) => s.stage === 'ingest')!;
      assert.equal(ingest.state, 'cached');
      assert.equal(ingest.key, firstIngestKey);
      const baselines = status.stages.find((s) => s.stage === 'baselines')!;
      assert.equal(baselines.state, 'done');
      // The second worker downloaded the first one's ingest output, verified, into its own cache.
      const copy = join(otherHome, 'cache', 's3', 'artifacts', 'ingest', firstIngestKey, firstIngestAttempt);
      assert.ok((await readdir(copy)).includes('sequences.parquet'), log);
      assert.ok(await stat(join(copy, '.lcrec-verified.json')));
      assert.ok(await fx.store.getManifest('baselines', baselines.key!));
    } finally {
      worker.kill('SIGTERM');
      await new Promise((resolve) => (worker.exitCode !== null ? resolve(undefined) : worker.once('exit', resolve)));
      await rm(otherHome, { recursive: true, force: true });
    }
  });
});

describe('lcrec run --artifacts s3://... from the CLI, with canary credentials', () => {
  const canaryKey = `canary${randomBytes(6).toString('hex')}`;
  const canarySecret = `CANARY-SECRET-${randomBytes(12).toString('hex')}`;
  const wrongSecret = `CANARY-WRONG-${randomBytes(12).toString('hex')}`;
  let s3: S3TestServer;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let root: string;
  const outputs: string[] = [];
  const run = async (extraEnv: Record<string, string>, ...args: string[]) => {
    const result = await lcrec({ ...env, ...extraEnv }, ...args);
    outputs.push(`$ lcrec ${args.join(' ')}\n${result.stdout}\n${result.stderr}`);
    return result;
  };

  before(async () => {
    s3 = await startS3Server({ accessKeyId: canaryKey, secretAccessKey: canarySecret });
    home = await mkdtemp(join(tmpdir(), 'lcrec-s3cli-'));
    root = `s3://${s3.bucket}/cli`;
    env = lcrecEnv({ ...s3.env, LCREC_HOME: home, LCREC_TEMPORAL_PORT: String(await freePort()) });
  });
  after(async () => {
    await lcrec(env, 'server', 'stop');
    await s3?.stop();
    await rm(home, { recursive: true, force: true });
  });

  test('run completes with the store in S3, reruns from it, status and runs list read it, sweep lists nothing', async () => {
    const first = await run({}, 'run', '--artifacts', root, ...QUICK_LLM_ARGS);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /completed/);
    assert.match(first.stdout, /ingest\s+done\s+ingest-[0-9a-f]{32}/);
    const workflowId = /run (lcrec-sample-[0-9a-f]{12})/.exec(first.stdout)![1]!;
    assert.ok((await s3.listKeys('cli/runs/')).some((k) => k.startsWith(`cli/runs/${workflowId}/`)));
    assert.ok(!(await stat(join(home, 'artifacts')).catch(() => undefined)), 'nothing in the local default store');

    const second = await run({}, 'run', '--artifacts', root, ...QUICK_LLM_ARGS);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /ingest\s+cached/);
    assert.match(second.stdout, /baselines\s+cached/);

    const status = await run({}, 'status', workflowId, '--artifacts', root);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /from run manifest/);
    const list = await run({ LCREC_ARTIFACTS: root }, 'runs', 'list');
    assert.match(list.stdout, new RegExp(`${workflowId}\\s+completed`));
    const sweep = await run({}, 'store', 'sweep', '--artifacts', root, '--older-than', '0s', '--dry-run');
    assert.equal(sweep.code, 0, sweep.stderr);
    assert.match(sweep.stdout, /0 orphaned attempts .* in s3:\/\/lcrec-test\/cli \(dry run: nothing removed\)/);
  });

  test('a dataset in S3 that fails ingestion reports its line and exits non-zero; resume finishes once it is fixed', async () => {
    const reviews: string[] = [];
    const meta: string[] = [];
    for (let u = 0; u < 6; u++) for (let i = 0; i < 6; i++) reviews.push(JSON.stringify({ reviewerID: `U${u}`, asin: `A${(u + i) % 7}`, unixReviewTime: 1e9 + i * 86400 }));
    for (let i = 0; i < 7; i++) meta.push(`{'asin': 'A${i}', 'title': 'Item ${i}', 'categories': [['Beauty', 'Nails']]}`);
    const broken = [...reviews];
    broken[4] = 'not json';
    const put = (key: string, body: Buffer) => s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
    await put('datasets/mini/reviews_Mini_5.json.gz', gzipSync(broken.join('\n')));
    await put('datasets/mini/meta_Mini.json.gz', gzipSync(meta.join('\n')));

    const failed = await run({}, 'run', '--artifacts', root, '--dataset', `s3://${s3.bucket}/datasets/mini`, '--format', 'amazon2014', '--set', 'name=mini', '--set', 'rqvae.codebookSize=4', ...QUICK_LLM_ARGS);
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.match(failed.stdout, /ingest\s+failed/);
    assert.match(failed.stdout, /reviews_Mini_5\.json\.gz:5/);
    const workflowId = /run (lcrec-mini-[0-9a-f]{12})/.exec(failed.stdout)![1]!;

    await put('datasets/mini/reviews_Mini_5.json.gz', gzipSync(reviews.join('\n')));
    const resumed = await run({}, 'resume', workflowId, '--artifacts', root);
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.match(resumed.stdout, /ingest\s+done/);

    // The standalone command reads the same s3:// source through the same download cache.
    const out = await mkdtemp(join(tmpdir(), 'lcrec-s3-ingest-'));
    try {
      const ingested = await run({}, 'ingest', `s3://${s3.bucket}/datasets/mini`, '--format', 'amazon2014', '--out', out);
      assert.equal(ingested.code, 0, ingested.stdout + ingested.stderr);
      assert.match(ingested.stdout, /6 users, 7 items, 36 interactions/);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  test('wrong credentials, a missing bucket, an unreachable endpoint: one clear error line naming endpoint and bucket', async () => {
    const cases: [Record<string, string>, string[], RegExp][] = [
      [{ AWS_SECRET_ACCESS_KEY: wrongSecret }, ['run', '--artifacts', root], /bucket lcrec-test: the credentials were refused/],
      [{ AWS_SECRET_ACCESS_KEY: wrongSecret }, ['worker', '--artifacts', root], /bucket lcrec-test: the credentials were refused/],
      [{}, ['runs', 'list', '--artifacts', 's3://no-such-bucket/x'], /bucket no-such-bucket: the bucket does not exist/],
      [{}, ['run', '--artifacts', 's3://no-such-bucket/x'], /bucket no-such-bucket: the bucket does not exist/],
      [{ LCREC_S3_ENDPOINT: 'http://127.0.0.1:9' }, ['status', 'lcrec-x', '--artifacts', root], /endpoint http:\/\/127\.0\.0\.1:9, bucket lcrec-test: cannot reach the endpoint/],
      [{ LCREC_S3_ENDPOINT: 'http://127.0.0.1:9' }, ['run', '--artifacts', root], /endpoint http:\/\/127\.0\.0\.1:9, bucket lcrec-test: cannot reach the endpoint/],
    ];
    for (const [extra, args, expected] of cases) {
      const result = await run(extra, ...args);
      const label = `lcrec ${args.join(' ')}: ${result.stderr}`;
      assert.equal(result.code, 1, label);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, label);
      assert.match(lines[0]!, /^lcrec: error: S3 endpoint http:\/\/127\.0\.0\.1:\d+, bucket /, label);
      assert.match(lines[0]!, expected, label);
      assert.doesNotMatch(result.stderr, /starting the local Temporal dev server/, label);
    }
  });

  test('hostile run names and workflow ids are refused before they reach a path or an object key', async () => {
    const badName = await run({}, 'run', '--artifacts', root, '--set', 'name=../../x');
    assert.equal(badName.code, 2, badName.stderr);
    assert.match(badName.stderr, /name: lowercase letters/);
    for (const id of ['../../x', '%2e%2e', '/etc/passwd']) {
      const status = await run({}, 'status', id, '--artifacts', root);
      assert.equal(status.code, 2, status.stderr);
      assert.match(status.stderr, /invalid workflow id/);
    }
    assert.deepEqual((await s3.listKeys('')).filter((k) => !k.startsWith('cli/') && !k.startsWith('datasets/')), []);
  });

  test('the canary credentials appear in no output, no file under the data directory and no object in the bucket', async () => {
    assert.ok(outputs.length >= 10, 'the runs above were captured');
    const leaks: string[] = [];
    const check = (where: string, text: string) => {
      for (const canary of [canarySecret, wrongSecret, canaryKey]) if (text.includes(canary)) leaks.push(`${where} holds ${canary.slice(0, 13)}…`);
    };
    for (const out of outputs) check(`output of ${out.split('\n')[0]}`, out);
    // Every file lcrec wrote: caches, downloaded datasets, the Temporal server's SQLite (histories).
    await lcrec(env, 'server', 'stop');
    const files = (await readdir(home, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    assert.ok(files.length > 10);
    for (const file of files) {
      const path = join(file.parentPath, file.name);
      check(path, (await readFile(path)).toString('latin1'));
    }
    const keys = await s3.listKeys('');
    assert.ok(keys.some((k) => k.endsWith('manifest.json')));
    for (const key of keys) {
      const res = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
      check(`s3://${s3.bucket}/${key}`, Buffer.from(await res.Body!.transformToByteArray()).toString('latin1'));
    }
    assert.deepEqual(leaks, []);
  });
});
