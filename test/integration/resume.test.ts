import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { QUICK_LLM_ARGS } from '../helpers/quickLlm.js';

const BIN = fileURLToPath(new URL('../../bin/lcrec.js', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let home: string;
let env: NodeJS.ProcessEnv;
const lcrec = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 300_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
const startWorker = (): ChildProcess => spawn(process.execPath, [BIN, 'worker', '--queue', 'all'], { env, stdio: 'ignore' });

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'lcrec-resume-'));
  env = { ...process.env, LCREC_HOME: home, LCREC_TEMPORAL_PORT: String(await freePort()) };
  delete env.LCREC_ARTIFACTS;
  const server = await lcrec('server', 'start');
  env.TEMPORAL_ADDRESS = /running at (\S+)/.exec(server.stdout)![1]!;
});
after(async () => {
  await lcrec('server', 'stop');
  await rm(home, { recursive: true, force: true });
});

test('a worker killed during RQ-VAE training: a new worker finishes the stage from its last checkpoint', async () => {
  // Long enough training that the kill lands mid-stage; SASRec left out to keep the test short.
  const config = ['--set', 'name=resume', '--set', 'rqvae.epochs=600', '--set', 'baselines.models=[popularity]', ...QUICK_LLM_ARGS];
  let worker = startWorker();
  try {
    const started = await lcrec('run', '--detach', ...config);
    assert.equal(started.code, 0, started.stderr);
    const workflowId = /run (lcrec-resume-[0-9a-f]{12})/.exec(started.stdout)![1]!;

    // Wait for the first checkpoint of the RQ-VAE stage, then kill the worker without warning.
    const work = join(home, 'work', 'rqvae');
    const deadline = Date.now() + 120_000;
    let checkpoint: string | undefined;
    while (!checkpoint && Date.now() < deadline) {
      await sleep(250);
      const keys = existsSync(work) ? await readdir(work) : [];
      checkpoint = keys.map((k) => join(work, k, 'training.json')).find((f) => existsSync(f));
    }
    assert.ok(checkpoint, 'the RQ-VAE stage wrote a checkpoint');
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker.once('exit', resolve));

    worker = startWorker();
    // Attaches to the running execution (same id) and follows it to the end.
    const finished = await lcrec('run', ...config);
    assert.equal(finished.code, 0, finished.stdout + finished.stderr);
    assert.match(finished.stdout, new RegExp(`run ${workflowId}`));
    assert.match(finished.stdout, /semid\s+done/);

    const runs = join(home, 'artifacts', 'runs', workflowId);
    const manifests = await Promise.all((await readdir(runs)).map(async (f) => JSON.parse(await readFile(join(runs, f), 'utf8'))));
    const rqvae = manifests
      .filter((m) => m.state === 'completed')
      .flatMap((m) => m.stages as { stage: string; summary?: { resumedFromStep?: number | null; epoch?: number } }[])
      .find((s) => s.stage === 'rqvae');
    assert.ok(rqvae?.summary, 'the completed run recorded the RQ-VAE stage');
    assert.ok((rqvae.summary.resumedFromStep ?? 0) > 0, `resumed from step ${rqvae.summary.resumedFromStep}, not from 0`);
  } finally {
    worker.kill('SIGTERM');
  }
});

test('a worker on another machine (own data directory, same store) resumes RQ-VAE from the checkpoint in the store', async () => {
  const config = ['--set', 'name=moved', '--set', 'rqvae.epochs=800', '--set', 'baselines.models=[popularity]', ...QUICK_LLM_ARGS];
  const artifacts = join(home, 'artifacts');
  const stored = join(artifacts, 'rqvae-checkpoint');
  const earlier = new Set(existsSync(stored) ? await readdir(stored) : []); // the other test's run
  let worker = startWorker();
  const elsewhere = await mkdtemp(join(tmpdir(), 'lcrec-elsewhere-'));
  try {
    const started = await lcrec('run', '--detach', ...config);
    assert.equal(started.code, 0, started.stderr);
    const workflowId = /run (lcrec-moved-[0-9a-f]{12})/.exec(started.stdout)![1]!;

    // Wait for the first store checkpoint (step 500: one step per epoch on the sample), then kill.
    const deadline = Date.now() + 240_000;
    let published = false;
    while (!published && Date.now() < deadline) {
      await sleep(250);
      const keys = existsSync(stored) ? await readdir(stored) : [];
      published = keys.some((k) => !earlier.has(k) && existsSync(join(stored, k, 'manifest.json')));
    }
    assert.ok(published, 'a checkpoint was published to the store');
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker.once('exit', resolve));

    // The new worker has an empty data directory: no local checkpoint, only the store.
    worker = spawn(process.execPath, [BIN, 'worker', '--queue', 'all'], { env: { ...env, LCREC_HOME: elsewhere, LCREC_ARTIFACTS: artifacts }, stdio: 'ignore' });
    const finished = await lcrec('run', ...config);
    assert.equal(finished.code, 0, finished.stdout + finished.stderr);
    const runs = join(artifacts, 'runs', workflowId);
    const manifests = await Promise.all((await readdir(runs)).map(async (f) => JSON.parse(await readFile(join(runs, f), 'utf8'))));
    const rqvae = manifests
      .filter((m) => m.state === 'completed')
      .flatMap((m) => m.stages as { stage: string; summary?: { resumedFromStep?: number | null } }[])
      .find((s) => s.stage === 'rqvae');
    assert.ok((rqvae?.summary?.resumedFromStep ?? 0) >= 500, `resumed from step ${rqvae?.summary?.resumedFromStep}`);
  } finally {
    worker.kill('SIGTERM');
    await rm(elsewhere, { recursive: true, force: true });
  }
});

test('a worker killed mid-epoch of fine-tuning: the new worker resumes at the checkpointed step and ends with the weights of an uninterrupted run', async () => {
  const config = [
    '--set', 'name=ftkill', '--set', 'rqvae.epochs=40', '--set', 'baselines.models=[popularity]',
    '--set', 'finetune.epochs=1', '--set', 'finetune.unitsPerEpoch=800', '--set', 'finetune.checkpointEvery=10',
    '--set', 'finetune.validation.lossSamples=20', '--set', 'finetune.validation.recallUsers=0', '--set', 'evaluate.splits=[test]',
  ];
  const artifacts = join(home, 'artifacts');
  const stored = join(artifacts, 'finetune-checkpoint');
  const earlier = new Set(existsSync(stored) ? await readdir(stored) : []); // the other tests' runs
  let worker = startWorker();
  try {
    const started = await lcrec('run', '--detach', ...config);
    assert.equal(started.code, 0, started.stderr);
    const workflowId = /run (lcrec-ftkill-[0-9a-f]{12})/.exec(started.stdout)![1]!;
    const deadline = Date.now() + 240_000;
    let published = false;
    while (!published && Date.now() < deadline) {
      await sleep(200);
      const keys = existsSync(stored) ? await readdir(stored) : [];
      published = keys.some((k) => !earlier.has(k) && existsSync(join(stored, k, 'manifest.json')));
    }
    assert.ok(published, 'a fine-tuning checkpoint was published');
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker.once('exit', resolve));

    worker = startWorker();
    const finished = await lcrec('run', ...config);
    assert.equal(finished.code, 0, finished.stdout + finished.stderr);
    const runs = join(artifacts, 'runs', workflowId);
    const manifests = await Promise.all((await readdir(runs)).map(async (f) => JSON.parse(await readFile(join(runs, f), 'utf8'))));
    const finetune = manifests
      .filter((m) => m.state === 'completed')
      .flatMap((m) => m.stages as { stage: string; key: string; summary?: { resumedFromStep?: number | null } }[])
      .find((s) => s.stage === 'finetune')!;
    const resumedFrom = finetune.summary?.resumedFromStep ?? 0;
    assert.ok(resumedFrom >= 10 && resumedFrom % 10 === 0, `resumed at checkpointed step ${resumedFrom}`);

    // The same config, uninterrupted, in an empty store: the fine-tuned files are byte-identical.
    const fresh = await mkdtemp(join(tmpdir(), 'lcrec-ftfresh-'));
    try {
      // A worker of another data directory and store does the straight run.
      worker.kill('SIGTERM');
      await new Promise((resolve) => worker.once('exit', resolve));
      worker = spawn(process.execPath, [BIN, 'worker', '--queue', 'all'], { env: { ...env, LCREC_HOME: fresh }, stdio: 'ignore' });
      const straight = await lcrec('run', ...config, '--artifacts', join(fresh, 'artifacts'));
      assert.equal(straight.code, 0, straight.stdout + straight.stderr);
      const digests = async (root: string) => {
        const manifest = JSON.parse(await readFile(join(root, 'finetune', finetune.key, 'manifest.json'), 'utf8')) as { files: { name: string; sha256: string }[] };
        return Object.fromEntries(manifest.files.filter((f) => f.name.endsWith('.safetensors')).map((f) => [f.name, f.sha256]));
      };
      const resumed = await digests(artifacts);
      assert.ok(Object.keys(resumed).length > 0, 'the fine-tuned weights are published');
      assert.deepEqual(resumed, await digests(join(fresh, 'artifacts')));
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  } finally {
    worker.kill('SIGTERM');
  }
});
