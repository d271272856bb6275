import { SingleBar } from 'cli-progress';
import { defaultPayloadConverter, type WorkflowHandle } from '@temporalio/client';
import type { RunStatus, StageHeartbeat } from '../src/pipeline/contracts.js';
import { progressText } from './render.js';

/** The live state of a run: the workflow's status query plus the running activity's last heartbeat. */
export async function currentProgress(handle: WorkflowHandle): Promise<{ status: RunStatus; beat?: { stage: string; beat: StageHeartbeat } }> {
  const status = await handle.query<RunStatus>('status');
  const description = await handle.describe();
  for (const pending of description.raw.pendingActivities ?? []) {
    const payload = pending.heartbeatDetails?.payloads?.[0];
    if (!payload) continue;
    const beat = defaultPayloadConverter.fromPayload<StageHeartbeat>(payload);
    return { status, beat: { stage: pending.activityType?.name ?? '?', beat } };
  }
  return { status };
}

/**
 * Shows progress until the run ends and returns its final status. A bar on a terminal, a line per
 * phase (and every 10 s) otherwise, so logs stay readable.
 */
export async function followRun(handle: WorkflowHandle, out: NodeJS.WriteStream = process.stderr): Promise<RunStatus> {
  const finished = handle.result().then(
    () => true,
    () => true,
  );
  const bar = out.isTTY ? new SingleBar({ format: ' {stage} [{bar}] {percentage}% {phase} {value}/{total}', hideCursor: true, stream: out }) : undefined;
  let barStage: string | undefined;
  let lastLine = '';
  let lastLineAt = 0;
  let done = false;
  void finished.then(() => (done = true));
  while (!done) {
    await Promise.race([finished, new Promise((r) => setTimeout(r, 500))]);
    if (done) break;
    const progress = await currentProgress(handle).catch(() => undefined);
    const beat = progress?.beat;
    if (!beat) continue;
    if (bar) {
      const key = `${beat.stage}/${beat.beat.phase}`;
      if (barStage !== key) {
        if (barStage) bar.stop();
        bar.start(beat.beat.total ?? 0, beat.beat.done, { stage: beat.stage, phase: beat.beat.phase });
        barStage = key;
      }
      bar.update(beat.beat.done, { stage: beat.stage, phase: beat.beat.phase });
    } else {
      const line = progressText(beat.stage, beat.beat);
      const phaseChanged = line.split(' ').slice(0, 2).join(' ') !== lastLine.split(' ').slice(0, 2).join(' ');
      if (phaseChanged || Date.now() - lastLineAt > 10_000) {
        out.write(`  ${line}\n`);
        lastLine = line;
        lastLineAt = Date.now();
      }
    }
  }
  if (bar && barStage) bar.stop();
  return handle.query<RunStatus>('status');
}
