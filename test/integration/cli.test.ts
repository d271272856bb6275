import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { QUICK_LLM_ARGS } from '../helpers/quickLlm.js';

const BIN = fileURLToPath(new URL('../../bin/lcrec.js', import.meta.url));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('the lcrec command on the embedded default (local dev server, in-process worker)', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  const lcrec = (...args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env, timeout: 400_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'lcrec-cli-'));
    env = { ...process.env, LCREC_HOME: home, LCREC_TEMPORAL_PORT: String(await freePort()) };
    delete env.TEMPORAL_ADDRESS;
    delete env.LCREC_ARTIFACTS;
  });
  after(async () => {
    await lcrec('server', 'stop');
    await rm(home, { recursive: true, force: true });
  });

  test('run completes, a second run reuses the stage, status reads the run manifest, no server is left behind', async () => {
    const first = await lcrec('run', ...QUICK_LLM_ARGS);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /completed/);
    assert.match(first.stdout, /ingest\s+done\s+ingest-[0-9a-f]{32}/);
    assert.match(first.stdout, /baselines\s+done/);
    assert.match(first.stdout, /item-transition(\s+0\.\d{4}){8}/, 'npm start prints the baselines');
    assert.match(first.stdout, /lc-rec(\s+-){4}(\s+0\.\d{4}){4}/, 'and the fine-tuned model beside them (test split only here)');
    const workflowId = /run (lcrec-sample-[0-9a-f]{12})/.exec(first.stdout)?.[1];
    assert.ok(workflowId, first.stdout);

    const second = await lcrec('run', ...QUICK_LLM_ARGS);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, new RegExp(`run ${workflowId}`));
    assert.match(second.stdout, /ingest\s+cached/);
    assert.match(second.stdout, /baselines\s+cached/);

    assert.match((await lcrec('server', 'status')).stdout, /not running/, 'npm start leaves no server process behind');
    const status = await lcrec('status', workflowId);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /from run manifest/);
    assert.match(status.stdout, /ingest\s+cached/);
    const list = await lcrec('runs', 'list');
    assert.match(list.stdout, new RegExp(`${workflowId}\\s+completed`));
  });

  test('server start/status/stop manage one dev server with its SQLite file under LCREC_HOME', async () => {
    const started = await lcrec('server', 'start');
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, /running at 127\.0\.0\.1:\d+/);
    assert.ok(existsSync(join(home, 'temporal', 'temporal.db')));
    const pid = Number(/pid (\d+)/.exec(started.stdout)?.[1]);
    assert.match((await lcrec('server', 'start')).stdout, new RegExp(`pid ${pid}`), 'a second start reuses the running server');
    const status = await lcrec('status');
    assert.match(status.stdout, /from Temporal/, 'status is live while the server runs');
    assert.match((await lcrec('server', 'stop')).stdout, /stopped/);
    assert.throws(() => process.kill(pid, 0), 'the server process is gone');
  });

  test('with TEMPORAL_ADDRESS, run only talks to the cluster and a separate `lcrec worker` process does the work', async () => {
    const started = await lcrec('server', 'start');
    const address = /running at (\S+)/.exec(started.stdout)![1]!;
    const clusterEnv = { ...env, TEMPORAL_ADDRESS: address };
    const worker = spawn(process.execPath, [BIN, 'worker', '--queue', 'all'], { env: clusterEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const run = await new Promise<Result>((resolve) => {
        execFile(process.execPath, [BIN, 'run', '--set', 'name=cluster', ...QUICK_LLM_ARGS], { env: clusterEnv, timeout: 400_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? 1 : 0, stdout, stderr }),
        );
      });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /cluster workers/);
      assert.match(run.stdout, /completed/);
      assert.doesNotMatch(run.stderr, /starting the local Temporal dev server/);
    } finally {
      worker.kill('SIGTERM');
      await new Promise((resolve) => worker.once('exit', resolve));
      await lcrec('server', 'stop');
    }
  });

  test('a failed run reports the bad line, exits non-zero, and resume finishes it once the data is fixed', async () => {
    const dir = join(home, 'data');
    await mkdir(dir, { recursive: true });
    const reviews: string[] = [];
    const meta: string[] = [];
    for (let u = 0; u < 6; u++) for (let i = 0; i < 6; i++) reviews.push(JSON.stringify({ reviewerID: `U${u}`, asin: `A${(u + i) % 7}`, unixReviewTime: 1e9 + i * 86400 }));
    for (let i = 0; i < 7; i++) meta.push(`{'asin': 'A${i}', 'title': 'Item ${i}', 'categories': [['Beauty', 'Nails']]}`);
    const broken = [...reviews];
    broken[4] = 'not json';
    await writeFile(join(dir, 'reviews_Mini_5.json.gz'), gzipSync(broken.join('\n')));
    await writeFile(join(dir, 'meta_Mini.json.gz'), gzipSync(meta.join('\n')));

    // Seven items: a codebook of 4 codes is all k-means can initialise from them.
    const failed = await lcrec('run', '--dataset', dir, '--set', 'name=mini', '--set', 'rqvae.codebookSize=4', ...QUICK_LLM_ARGS);
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /ingest\s+failed/);
    assert.match(failed.stdout, /reviews_Mini_5\.json\.gz:5/);
    const workflowId = /run (lcrec-mini-[0-9a-f]{12})/.exec(failed.stdout)![1]!;

    await writeFile(join(dir, 'reviews_Mini_5.json.gz'), gzipSync(reviews.join('\n')));
    const resumed = await lcrec('resume', workflowId);
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`run ${workflowId}`));
    assert.match(resumed.stdout, /ingest\s+done/);
  });

  test('config show --resolved prints the validated config; a bad value names its key', async () => {
    const shown = await lcrec('config', 'show', '--resolved', '--set', 'ingest.kCore=7');
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /kCore: 7/);
    const bad = await lcrec('config', 'show', '--resolved', '--set', 'ingest.kCore=many');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /ingest\.kCore: .*expected number/);
  });

  test('ingest refuses an unknown format and lists the valid ones', async () => {
    const result = await lcrec('ingest', home, '--format', 'amazon2099', '--out', join(home, 'out'));
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /amazon2014/);
    assert.match(result.stderr, /lcrec/);
  });

  test('ingest of the real Amazon 2014 Beauty data (LC-Rec format) reports the published statistics', async (t) => {
    const beauty = process.env.LCREC_DATASETS && join(process.env.LCREC_DATASETS, 'amazon2014-beauty');
    if (!beauty || !existsSync(beauty)) {
      t.skip('LCREC_DATASETS not set or amazon2014-beauty absent: the real Beauty data is not on this machine');
      return;
    }
    const out = join(home, 'beauty');
    const result = await lcrec('ingest', beauty, '--format', 'lcrec', '--out', out);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /22,363 users, 12,101 items, 198,502 interactions/);
    const stats = JSON.parse(await readFile(join(out, 'stats.json'), 'utf8')) as Record<string, number>;
    assert.deepEqual([stats.users, stats.items, stats.interactions], [22363, 12101, 198502]);
  });

  test('baselines on the real Beauty data: item-transition reaches the known Recall@10 (valid 0.084, test 0.066)', async (t) => {
    const beauty = process.env.LCREC_DATASETS && join(process.env.LCREC_DATASETS, 'amazon2014-beauty');
    if (!beauty || !existsSync(beauty)) {
      t.skip('LCREC_DATASETS not set or amazon2014-beauty absent: the real Beauty data is not on this machine');
      return;
    }
    const out = join(home, 'beauty-baselines');
    // SASRec on Beauty takes many minutes on 2 cores: its figures come from bench/baselines, not the tests.
    const result = await lcrec('baselines', beauty, '--format', 'lcrec', '--out', out, '--set', 'baselines.models=[popularity,item-transition]');
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as {
      splits: Record<string, Record<string, Record<string, number>>>;
    };
    assert.equal(report.splits.valid!['item-transition']!['recall@10']!.toFixed(3), '0.084');
    assert.equal(report.splits.test!['item-transition']!['recall@10']!.toFixed(3), '0.066');
    assert.ok(report.splits.test!.popularity!['recall@10']! < 0.02);
  });
});
