/**
 * Operations on whole runs against a real Temporal dev server: reruns with --from / --force,
 * cancellation, and scheduled retraining that reuses unchanged stages and reruns changed ones.
 */
import assert from 'node:assert/strict';
import { access, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import { writeSyntheticDataset } from '../../datasets/synthetic.js';
import { resolveConfig } from '../../src/config/load.js';
import type { PipelineConfig } from '../../src/config/schema.js';
import type { PipelineInput, RerunRequest, RunStatus, StageName } from '../../src/pipeline/contracts.js';
import { normalizeConfig, workflowIdFor } from '../../cli/runCommand.js';
import { scheduleOptionsFor } from '../../cli/scheduleCommand.js';
import { TASK_QUEUES } from '../../workflows/queues.js';
import { QUICK_LLM_SETS } from '../helpers/quickLlm.js';
import { startTemporalFixture, type TemporalFixture } from '../helpers/temporalEnv.js';

const EventType = proto.temporal.api.enums.v1.EventType;

async function smallConfig(source: string, overrides: Partial<PipelineConfig['rqvae']> = {}): Promise<PipelineConfig> {
  const tiny = await resolveConfig({ preset: 'tiny', sets: QUICK_LLM_SETS });
  return {
    ...tiny,
    name: 'ops',
    dataset: { ...tiny.dataset, source, format: 'amazon2014' },
    baselines: { ...tiny.baselines, models: ['popularity', 'item-transition'] },
    rqvae: { ...tiny.rqvae, levels: 2, codebookSize: 16, epochs: 20, warmupEpochs: 2, evalEvery: 10, ...overrides },
  };
}

function stage(status: RunStatus, name: StageName) {
  return status.stages.find((s) => s.stage === name)!;
}

describe('run operations on a real Temporal dev server', () => {
  let fx: TemporalFixture;
  let data: string;
  before(async () => {
    fx = await startTemporalFixture();
    data = await mkdtemp(join(tmpdir(), 'lcrec-ops-data-'));
    await writeSyntheticDataset(data, { seed: 5, users: 160, items: 80, category: 'Beauty' });
  });
  after(async () => {
    await fx?.close();
    await rm(data, { recursive: true, force: true });
  });

  async function start(config: PipelineConfig, rerun?: RerunRequest): Promise<WorkflowHandle> {
    const input: PipelineInput = { config: normalizeConfig(config), codeVersion: 'test', ...(rerun ? { rerun } : {}) };
    return fx.env.client.workflow.start('pipelineWorkflow', { taskQueue: TASK_QUEUES.cpu, workflowId: workflowIdFor(input), args: [input], workflowIdConflictPolicy: 'USE_EXISTING' });
  }

  async function stageActivities(handle: WorkflowHandle): Promise<string[]> {
    const history = await handle.fetchHistory();
    return (history.events ?? [])
      .filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?')
      .filter((name) => !name.startsWith('plan') && name !== 'recordRun')
      .sort();
  }

  test('--from reruns a stage and everything after it; --force reruns only the stage; results are identical', async () => {
    const config = await smallConfig(data);
    const first = await start(config);
    const done = await fx.serve(first.result());
    assert.equal(done.state, 'completed');
    const rqvaeKey = stage(done, 'rqvae').key!;
    const semidBefore = (await fx.store.getManifest('semid', stage(done, 'semid').key!))!;

    const from = await start(config, { from: 'rqvae' });
    assert.equal(from.workflowId, first.workflowId, 'a rerun request is not part of the run id');
    const rerun = await fx.serve(from.result());
    assert.deepEqual(await stageActivities(from), ['evaluateShard', 'finetune', 'mergeEvaluation', 'prompts', 'rqvae', 'semid']);
    assert.deepEqual(rerun.stages.map((s: RunStatus["stages"][number]) => `${s.stage}:${s.state}`), ['ingest:cached', 'baselines:cached', 'embed:cached', 'rqvae:done', 'semid:done', 'prompts:done', 'finetune:done', 'evaluate:done']);
    // the forced attempts replaced the manifests; a seeded rerun reproduces the same bytes
    const rqvaeManifest = (await fx.store.getManifest('rqvae', rqvaeKey))!;
    assert.equal(rqvaeManifest.attempt, stage(rerun, 'rqvae').attempt);
    assert.notEqual(rqvaeManifest.attempt, stage(done, 'rqvae').attempt);
    const semidAfter = (await fx.store.getManifest('semid', stage(rerun, 'semid').key!))!;
    assert.equal(stage(rerun, 'semid').key, stage(done, 'semid').key);
    assert.notEqual(semidAfter.attempt, semidBefore.attempt);
    const digests = (m: typeof semidAfter) => m.files.map((f) => `${f.name}:${f.sha256}`).sort();
    assert.deepEqual(digests(semidAfter), digests(semidBefore));

    const force = await start(config, { force: ['embed'] });
    const forced = await fx.serve(force.result());
    assert.deepEqual(await stageActivities(force), ['embed'], 'same embeddings, same downstream keys: nothing else reruns');
    assert.equal(stage(forced, 'rqvae').state, 'cached');
  });

  test('cancel stops RQ-VAE training at a safe point: a checkpoint is left, nothing is published, the run says cancelled', async () => {
    const config = await smallConfig(data, { epochs: 100_000, evalEvery: 1000 });
    const handle = await start(config);
    const outcome = fx.serve(
      (async () => {
        // wait until RQ-VAE has taken some steps, then cancel
        for (;;) {
          const status = await handle.query<RunStatus>('status');
          const described = await handle.describe();
          const pending = described.raw.pendingActivities ?? [];
          if (stage(status, 'rqvae').state === 'running' && pending.some((p) => p.activityType?.name === 'rqvae' && p.heartbeatDetails)) break;
          await new Promise((r) => setTimeout(r, 300));
        }
        await new Promise((r) => setTimeout(r, 1500));
        await handle.cancel();
        return handle.result().then(
          () => assert.fail('a cancelled run does not complete'),
          (err: unknown) => err,
        );
      })(),
    );
    const err = await outcome;
    assert.ok(err instanceof WorkflowFailedError, String(err));
    assert.match(String(err.cause?.name ?? err.cause), /Cancel/);
    const manifest = (await fx.store.getRunManifest(handle.workflowId))! as unknown as RunStatus;
    assert.equal(manifest.state, 'cancelled');
    const rqvae = stage(manifest, 'rqvae');
    assert.equal(rqvae.state, 'cancelled');
    assert.equal(stage(manifest, 'semid').state, 'skipped');
    assert.equal(await fx.store.getManifest('rqvae', rqvae.key!), undefined, 'nothing published');
    const checkpointDir = join(fx.home, 'work', 'rqvae', rqvae.key!);
    await access(checkpointDir);
    assert.ok((await readdir(checkpointDir)).length > 0, 'a checkpoint was left for resume');
  });

  test('a scheduled trigger reuses every stage while the data is unchanged and reruns from ingestion when it changed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lcrec-ops-sched-'));
    try {
      await writeSyntheticDataset(dir, { seed: 6, users: 160, items: 80, category: 'Beauty' });
      const input: PipelineInput = { config: normalizeConfig(await smallConfig(dir)), codeVersion: 'test' };
      const schedule = await fx.env.client.schedule.create(scheduleOptionsFor(input, { intervals: [{ every: '7d' }] }, 'lcrec-schedule-ops', true));
      const seen = new Set<string>();
      const fire = async (): Promise<{ handle: WorkflowHandle; status: RunStatus }> => {
        await schedule.trigger();
        for (;;) {
          const { info } = await schedule.describe();
          const fresh = info.recentActions.find((a) => !seen.has(a.action.workflow.workflowId));
          if (fresh) {
            const id = fresh.action.workflow.workflowId;
            seen.add(id);
            const handle = fx.env.client.workflow.getHandle(id);
            return { handle, status: await fx.serve(handle.result() as Promise<RunStatus>) };
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      const first = await fire();
      assert.ok(first.handle.workflowId.startsWith(workflowIdFor(input)), first.handle.workflowId);
      assert.equal(first.status.state, 'completed');
      assert.equal(stage(first.status, 'ingest').state, 'done');

      const unchanged = await fire();
      assert.notEqual(unchanged.handle.workflowId, first.handle.workflowId, 'each scheduled run has its own id');
      assert.deepEqual(unchanged.status.stages.map((s) => s.state), ['cached', 'cached', 'cached', 'cached', 'cached', 'cached', 'cached', 'cached']);
      assert.deepEqual(await stageActivities(unchanged.handle), []);

      // new reviews arrive: the same files, other content
      await writeSyntheticDataset(dir, { seed: 7, users: 170, items: 80, category: 'Beauty' });
      const changed = await fire();
      assert.deepEqual(changed.status.stages.map((s) => s.state), ['done', 'done', 'done', 'done', 'done', 'done', 'done', 'done']);
      assert.notEqual(stage(changed.status, 'ingest').key, stage(first.status, 'ingest').key);
      await schedule.delete();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
