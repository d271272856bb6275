import { ActivityCancellationType, ApplicationFailure, CancellationScope, defineQuery, isCancellation, patched, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { PipelineInput, RerunRequest, RunStatus, StageName, StageOutput, StagePlan, StageStatus } from '../src/pipeline/contracts.js';
import { TASK_QUEUES } from './queues.js';

export const statusQuery = defineQuery<RunStatus>('status');

/** Bad input fails at once; anything else (a lost worker, a full disk, S3 down) retries with backoff. */
const retry = { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '2m', maximumAttempts: 5, nonRetryableErrorTypes: ['BadInputError'] };

const control = proxyActivities<Activities>({ taskQueue: TASK_QUEUES.cpu, startToCloseTimeout: '2m', retry });
/** Planning digests the stage's inputs (for ingestion: every source byte), so it gets time. */
const planning = proxyActivities<Activities>({ taskQueue: TASK_QUEUES.cpu, startToCloseTimeout: '30m', retry });
const stageOptions = {
  startToCloseTimeout: '12h',
  // Stages heartbeat progress about once a second; a silent minute means the worker is gone.
  heartbeatTimeout: '1m',
  // On cancel, wait until the stage has stopped (checkpoint left, workspace dropped, nothing published).
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
} as const;
const cpu = proxyActivities<Activities>({ taskQueue: TASK_QUEUES.cpu, ...stageOptions });
/** Stages that want an accelerator when one is present. */
const gpu = proxyActivities<Activities>({ taskQueue: TASK_QUEUES.gpu, ...stageOptions });
/**
 * LLM stages: one optimiser step (or one batch of beams) plus a checkpoint write blocks the
 * heartbeat for longer than the other stages' minute on a CPU; a lost worker is noticed after 2.
 */
const llm = proxyActivities<Activities>({ taskQueue: TASK_QUEUES.gpu, ...stageOptions, heartbeatTimeout: '2m', startToCloseTimeout: '48h' });

interface StageStep {
  stage: StageName;
  /** Stages whose outputs this one reads; it starts when they are finished. */
  needs: StageName[];
  /** Computes the stage's key from its config slice and upstream outputs (`done`). */
  plan: (input: PipelineInput, done: Map<StageName, StageOutput>) => Promise<StagePlan>;
  run: (plan: StagePlan) => Promise<StageOutput>;
}

/**
 * The stages, each after the stages it reads. Independent branches run at the same time: the
 * baselines beside the embed -> rqvae -> semid chain. Each later stage adds one line here.
 */
const STAGES: StageStep[] = [
  { stage: 'ingest', needs: [], plan: (input) => planning.planIngest(input.config), run: (plan) => cpu.ingest(plan) },
  { stage: 'baselines', needs: ['ingest'], plan: (input, done) => planning.planBaselines(input.config, done.get('ingest')!), run: (plan) => cpu.baselines(plan) },
  { stage: 'embed', needs: ['ingest'], plan: (input, done) => planning.planEmbed(input.config, done.get('ingest')!), run: (plan) => gpu.embed(plan) },
  { stage: 'rqvae', needs: ['embed'], plan: (input, done) => planning.planRqvae(input.config, done.get('embed')!), run: (plan) => gpu.rqvae(plan) },
  { stage: 'semid', needs: ['embed', 'rqvae'], plan: (input, done) => planning.planSemid(input.config, done.get('embed')!, done.get('rqvae')!), run: (plan) => cpu.semid(plan) },
  { stage: 'prompts', needs: ['ingest', 'semid'], plan: (input, done) => planning.planPrompts(input.config, done.get('ingest')!, done.get('semid')!), run: (plan) => cpu.prompts(plan) },
  {
    stage: 'finetune',
    needs: ['ingest', 'semid', 'prompts'],
    plan: (input, done) => planning.planFinetune(input.config, done.get('ingest')!, done.get('semid')!, done.get('prompts')!),
    run: (plan) => llm.finetune(plan),
  },
  {
    stage: 'evaluate',
    needs: ['ingest', 'semid', 'prompts', 'finetune'],
    plan: (input, done) =>
      planning.planEvaluate(input.config.evaluate, { ingest: done.get('ingest')!, semid: done.get('semid')!, prompts: done.get('prompts')!, finetune: done.get('finetune')! }),
    run: evaluateInShards,
  },
];

/**
 * Users are decoded in shards, one activity each (on the gpu queue, so several accelerators share
 * the work), then merged; the merged metrics do not depend on the shard count.
 */
async function evaluateInShards(plan: StagePlan): Promise<StageOutput> {
  const shards = (plan.params.settings as { shards: number }).shards;
  const planned = await Promise.all(Array.from({ length: shards }, (_, shard) => planning.planEvaluateShard(plan, shard)));
  const outputs = await Promise.all(
    planned.map(({ cached, ...shard }) => (cached && !plan.force ? cached : llm.evaluateShard(cached ? { ...shard, force: true } : shard))),
  );
  return llm.mergeEvaluation(plan, outputs);
}

export async function pipelineWorkflow(input: PipelineInput): Promise<RunStatus> {
  const info = workflowInfo();
  const status: RunStatus = {
    workflowId: info.workflowId,
    runId: info.runId,
    name: input.config.name,
    state: 'running',
    startedAt: new Date().toISOString(),
    stages: STAGES.map(({ stage }) => ({ stage, state: 'pending' })),
  };
  setHandler(statusQuery, () => status);
  await control.recordRun(input, status);
  // Also recorded whenever a stage starts running or finishes, so the manifest tells which stages
  // are published even if the server and worker die together. One write at a time, each sending
  // the status as it is when the write starts; best effort: the end-of-run record is the one that must land.
  let progressRecords: Promise<void> = Promise.resolve();
  const recordProgress = () => {
    if (!patched('run-manifest-per-stage')) return; // runs started by older code replay without these writes
    progressRecords = progressRecords.then(() => control.recordRun(input, status)).catch(() => undefined);
  };

  const outputs = new Map<StageName, StageOutput>();
  const finished = new Map<StageName, Promise<StageOutput>>();
  const forced = forcedStages(input.rerun);
  for (const [i, step] of STAGES.entries()) {
    const entry = status.stages[i]!;
    finished.set(
      step.stage,
      // A stage whose inputs failed never starts (it ends up 'skipped'); the others go on.
      Promise.all(step.needs.map((need) => finished.get(need)!)).then(async () => {
        const output = await runOrReuse(entry, () => step.plan(input, outputs), step.run, forced.has(step.stage), recordProgress);
        outputs.set(step.stage, output);
        recordProgress();
        return output;
      }),
    );
  }
  // Wait for every branch, so nothing is still running when the run manifest is written.
  const failure = (await Promise.allSettled(finished.values())).find((r) => r.status === 'rejected');
  await progressRecords; // a late progress write must not land after the final one
  if (failure && isCancellation(failure.reason)) {
    status.state = 'cancelled';
    status.error = 'cancelled';
    for (const entry of status.stages) if (entry.state === 'pending' || entry.state === 'failed') entry.state = entry.state === 'pending' ? 'skipped' : 'cancelled';
    status.finishedAt = new Date().toISOString();
    // The workflow's own scope is cancelled: record the outcome outside it, then end as cancelled.
    await CancellationScope.nonCancellable(() => control.recordRun(input, status));
    throw failure.reason;
  }
  if (failure) {
    status.state = 'failed';
    const failedStage = status.stages.find((s) => s.state === 'failed');
    status.error = failedStage?.error ?? errorMessage(failure.reason);
    for (const entry of status.stages) if (entry.state === 'pending') entry.state = 'skipped';
  } else {
    status.state = 'completed';
  }
  status.finishedAt = new Date().toISOString();
  await control.recordRun(input, status);
  if (status.state === 'failed') {
    throw ApplicationFailure.create({ message: status.error ?? 'pipeline failed', type: 'PipelineFailed', nonRetryable: true });
  }
  return status;
}

/** The stages a rerun request names: `force` as given, `from` with everything downstream of it. */
export function forcedStages(rerun: RerunRequest | undefined): Set<StageName> {
  const forced = new Set<StageName>(rerun?.force ?? []);
  const from = rerun?.from;
  if (from) for (const step of STAGES) if (isDownstream(step.stage, from)) forced.add(step.stage);
  return forced;
}

/** True when `stage` is `of` or reads it, directly or through other stages. */
function isDownstream(stage: StageName, of: StageName): boolean {
  if (stage === of) return true;
  return STAGES.find((s) => s.stage === stage)!.needs.some((need) => isDownstream(need, of));
}

/** A stage whose key already has a manifest is not run again, unless the run forces it. */
async function runOrReuse(
  entry: StageStatus,
  plan: () => Promise<StagePlan>,
  run: (plan: StagePlan) => Promise<StageOutput>,
  force: boolean,
  onRunning: () => void,
): Promise<StageOutput> {
  entry.startedAt = new Date().toISOString();
  entry.state = 'planning';
  try {
    const planned = await plan();
    entry.key = planned.key;
    let output: StageOutput;
    if (planned.cached && !force) {
      output = planned.cached;
      entry.state = 'cached';
    } else {
      entry.state = 'running';
      onRunning();
      const { cached, ...fresh } = planned;
      output = await run(cached ? { ...fresh, force: true } : fresh);
      entry.state = 'done';
    }
    entry.attempt = output.attempt;
    entry.summary = output.summary;
    return output;
  } catch (err) {
    entry.state = 'failed';
    entry.error = errorMessage(err);
    throw err;
  } finally {
    entry.finishedAt = new Date().toISOString();
    entry.durationMs = Date.parse(entry.finishedAt) - Date.parse(entry.startedAt);
  }
}

/** Activity failures wrap the real reason in `cause`; show the innermost message. */
function errorMessage(err: unknown): string {
  let current = err as { message?: string; cause?: unknown } | undefined;
  while (current?.cause) current = current.cause as typeof current;
  return current?.message ?? String(err);
}
