/**
 * Faults around a whole run: the Temporal server killed mid-run and restarted on its SQLite file,
 * and a store that refuses one write. Both runs must complete.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { QUICK_LLM_ARGS } from '../helpers/quickLlm.js';
import { resolveConfig } from '../../src/config/load.js';
import type { PipelineInput, RunStatus } from '../../src/pipeline/contracts.js';
import type { ArtifactStore } from '../../src/store/artifactStore.js';
import { normalizeConfig, workflowIdFor } from '../../cli/runCommand.js';
import { TASK_QUEUES } from '../../workflows/queues.js';
import { QUICK_LLM_SETS } from '../helpers/quickLlm.js';
import { startTemporalFixture } from '../helpers/temporalEnv.js';

const BIN = fileURLToPath(new URL('../../bin/lcrec.js', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

test('the Temporal server killed (SIGKILL) mid-run and restarted on the same SQLite file: the run completes', async () => {
  const home = await mkdtemp(join(tmpdir(), 'lcrec-faults-'));
  const env: NodeJS.ProcessEnv = { ...process.env, LCREC_HOME: home, LCREC_TEMPORAL_PORT: String(await freePort()) };
  delete env.LCREC_ARTIFACTS;
  const lcrec = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env, timeout: 300_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  let worker: ChildProcess | undefined;
  try {
    const server = await lcrec('server', 'start');
    env.TEMPORAL_ADDRESS = /running at (\S+)/.exec(server.stdout)![1]!;
    const pid = Number(/pid (\d+)/.exec(server.stdout)![1]);
    worker = spawn(process.execPath, [BIN, 'worker', '--queue', 'all'], { env, stdio: 'ignore' });
    const config = ['--set', 'name=faults', '--set', 'rqvae.epochs=400', '--set', 'baselines.models=[popularity]', ...QUICK_LLM_ARGS];
    const started = await lcrec('run', '--detach', ...config);
    assert.equal(started.code, 0, started.stderr);
    const workflowId = /run (lcrec-faults-[0-9a-f]{12})/.exec(started.stdout)![1]!;

    // Kill the server while RQ-VAE trains (its first checkpoint proves the stage is under way).
    const work = join(home, 'work', 'rqvae');
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      const keys = existsSync(work) ? await readdir(work) : [];
      if (keys.some((k) => existsSync(join(work, k, 'training.json')))) break;
      await sleep(250);
    }
    process.kill(pid, 'SIGKILL');
    await sleep(3000);

    // With the server gone, `status` answers from the run manifest, which is recorded as stages
    // start and finish: it already shows what is published and what was under way.
    let recorded = { code: 1, stdout: '', stderr: '' };
    for (let tries = 0; tries < 10; tries++) {
      recorded = await lcrec('status', workflowId);
      if (/rqvae\s+running/.test(recorded.stdout)) break;
      await sleep(1000);
    }
    assert.equal(recorded.code, 0, recorded.stderr);
    assert.match(recorded.stdout, /run manifest/);
    assert.match(recorded.stdout, /ingest\s+done/);
    assert.match(recorded.stdout, /embed\s+done/);
    assert.match(recorded.stdout, /rqvae\s+running/);
    assert.match(recorded.stdout, /semid\s+pending/);
    const restarted = await lcrec('server', 'start');
    assert.equal(restarted.code, 0, restarted.stderr);
    assert.match(restarted.stdout, new RegExp(`running at ${env.TEMPORAL_ADDRESS}`), 'same port, same SQLite file');

    // The same execution is still there and finishes (the CLI attaches to it by id).
    const finished = await lcrec('run', ...config);
    assert.equal(finished.code, 0, finished.stdout + finished.stderr);
    assert.match(finished.stdout, new RegExp(`run ${workflowId}\\s+completed`));
    assert.match(finished.stdout, /prompts\s+done/);
  } finally {
    worker?.kill('SIGTERM');
    await lcrec('server', 'stop');
    await rm(home, { recursive: true, force: true });
  }
});

test('a store that refuses one write: the stage is retried and the run completes', async () => {
  const fx = await startTemporalFixture();
  try {
    let refused = 0;
    // The first publish of the embed stage fails the way a flaky S3 PUT does; everything else passes through.
    const flaky = new Proxy(fx.store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'publish') {
          return async (...args: Parameters<ArtifactStore['publish']>) => {
            if (args[0].stage === 'embed' && refused++ === 0) throw new Error('injected fault: the store refused the write (503 SlowDown)');
            return target.publish(...args);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const tiny = await resolveConfig({ preset: 'tiny', sets: QUICK_LLM_SETS });
    const config = { ...tiny, name: 'flaky', baselines: { ...tiny.baselines, models: ['popularity' as const] }, rqvae: { ...tiny.rqvae, epochs: 20 } };
    const input: PipelineInput = { config: normalizeConfig(config), codeVersion: 'test' };
    const handle = await fx.env.client.workflow.start('pipelineWorkflow', { taskQueue: TASK_QUEUES.cpu, workflowId: workflowIdFor(input), args: [input] });
    const status = (await fx.serve(handle.result(), { store: flaky })) as RunStatus;
    assert.equal(status.state, 'completed');
    assert.equal(refused, 2, 'one refused write, one retried write');
    const embed = status.stages.find((s) => s.stage === 'embed')!;
    assert.equal(embed.state, 'done');
    assert.match(embed.attempt!, /-a2$/, 'published by the second attempt');
    assert.equal((await fx.store.getManifest('embed', embed.key!))?.attempt, embed.attempt);
  } finally {
    await fx.close();
  }
});
