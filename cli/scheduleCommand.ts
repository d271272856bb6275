import { ScheduleNotFoundError, ScheduleOverlapPolicy, type ScheduleDescription, type ScheduleOptions, type ScheduleSpec } from '@temporalio/client';
import type { PipelineConfig } from '../src/config/schema.js';
import { BadInputError } from '../src/errors.js';
import type { PipelineInput } from '../src/pipeline/contracts.js';
import { parseDuration } from '../src/store/names.js';
import { packageVersion } from '../src/util/environment.js';
import { TASK_QUEUES } from '../workflows/queues.js';
import { normalizeConfig, workflowIdFor } from './runCommand.js';
import { openSession, type Session } from './temporal.js';

/**
 * Retraining per split on Temporal Schedules. Each firing starts `pipelineWorkflow` with the
 * config captured at creation: ingestion digests the source again, so unchanged data reuses every
 * stage through its key and changed data reruns ingestion and everything downstream. Temporal
 * appends the firing time to the workflow id, so each scheduled run has its own id. A firing while
 * the previous run is still going is skipped.
 */
export const SCHEDULE_PREFIX = 'lcrec-schedule-';

export function scheduleIdFor(config: PipelineConfig): string {
  return `${SCHEDULE_PREFIX}${config.name}`;
}

export function scheduleSpecOf(flags: { every?: string; cron?: string }): ScheduleSpec {
  if (Boolean(flags.every) === Boolean(flags.cron)) throw new BadInputError('give exactly one of --every <duration> (e.g. 7d) or --cron "<expression>"');
  if (flags.every) {
    const ms = parseDuration(flags.every);
    if (ms < 60_000) throw new BadInputError(`--every ${flags.every}: at least 1m`);
    return { intervals: [{ every: ms }] };
  }
  return { cronExpressions: [flags.cron!] };
}

/** Schedules live on a server that outlives this command: a cluster, or `lcrec server start`. */
async function scheduleSession(): Promise<Session> {
  const session = await openSession({ startServer: false });
  if (!session) {
    throw new BadInputError('schedules need a Temporal server that keeps running: `lcrec server start` (and `lcrec worker`), or TEMPORAL_ADDRESS');
  }
  return session;
}

async function withSession<T>(fn: (session: Session) => Promise<T>): Promise<T> {
  const session = await scheduleSession();
  try {
    return await fn(session);
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new BadInputError(`no schedule ${err.scheduleId}: see \`lcrec schedule list\``);
    throw err;
  } finally {
    await session.close();
  }
}

/** What `schedule create` sends to Temporal: the pipeline with this input, on `spec`, never overlapping. */
export function scheduleOptionsFor(input: PipelineInput, spec: ScheduleSpec, scheduleId: string, paused = false): ScheduleOptions {
  return {
    scheduleId,
    spec,
    action: { type: 'startWorkflow', workflowType: 'pipelineWorkflow', taskQueue: TASK_QUEUES.cpu, workflowId: workflowIdFor(input), args: [input] },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1d' },
    state: { paused, note: `lcrec ${input.codeVersion}: dataset ${input.config.dataset.source}` },
  };
}

export async function createSchedule(config: PipelineConfig, spec: ScheduleSpec, opts: { id?: string; paused?: boolean } = {}): Promise<string> {
  const input: PipelineInput = { config: normalizeConfig(config), codeVersion: await packageVersion() };
  const scheduleId = opts.id ?? scheduleIdFor(input.config);
  return withSession(async ({ client }) => {
    await client.schedule.create(scheduleOptionsFor(input, spec, scheduleId, opts.paused));
    return scheduleId;
  });
}

export async function listSchedules(out: NodeJS.WritableStream = process.stdout): Promise<string[]> {
  return withSession(async ({ client }) => {
    const ids: string[] = [];
    for await (const summary of client.schedule.list()) {
      if (!summary.scheduleId.startsWith(SCHEDULE_PREFIX)) continue;
      ids.push(summary.scheduleId);
      const next = summary.info?.nextActionTimes?.[0]?.toISOString() ?? '-';
      out.write(`${summary.scheduleId}  ${summary.state.paused ? 'paused ' : 'active '}  next ${next}\n`);
    }
    if (ids.length === 0) out.write('no lcrec schedules\n');
    return ids;
  });
}

export async function describeSchedule(scheduleId: string, out: NodeJS.WritableStream = process.stdout): Promise<ScheduleDescription> {
  return withSession(async ({ client }) => {
    const d = await client.schedule.getHandle(scheduleId).describe();
    const every = d.spec.intervals?.map((i) => `every ${Math.round(Number(i.every) / 1000)} s`) ?? [];
    const cron = d.spec.calendars?.length ? ['calendar (cron) spec'] : [];
    const input = d.action.type === 'startWorkflow' ? (d.action.args?.[0] as PipelineInput | undefined) : undefined;
    const lines = [
      `schedule ${d.scheduleId}  ${d.state.paused ? 'paused' : 'active'}${d.state.note ? `  (${d.state.note})` : ''}`,
      `  when: ${[...every, ...cron].join(', ') || '-'}; overlap ${d.policies.overlap}`,
      `  dataset: ${input?.config.dataset.source ?? '?'} (${input?.config.dataset.format ?? '?'}), config name ${input?.config.name ?? '?'}`,
      `  runs started: ${d.info.numActionsTaken}; skipped while one was running: ${d.info.numActionsSkippedOverlap}`,
      ...d.info.recentActions.map((a) => `  ran ${a.takenAt.toISOString()}  ${a.action.workflow.workflowId}`),
      ...d.info.runningActions.map((a) => `  running now: ${a.workflow.workflowId}`),
      `  next: ${d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()).join(', ') || '-'}`,
    ];
    out.write(`${lines.join('\n')}\n`);
    return d;
  });
}

export async function changeSchedule(scheduleId: string, change: 'pause' | 'unpause' | 'trigger' | 'delete'): Promise<void> {
  await withSession(async ({ client }) => {
    const handle = client.schedule.getHandle(scheduleId);
    if (change === 'pause') await handle.pause('paused with lcrec schedule pause');
    else if (change === 'unpause') await handle.unpause('unpaused with lcrec schedule unpause');
    // A manual trigger follows the same rule as the timer: not while a run is going.
    else if (change === 'trigger') await handle.trigger(ScheduleOverlapPolicy.SKIP);
    else await handle.delete();
  });
}
