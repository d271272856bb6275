import type { RunStatus } from '../src/pipeline/contracts.js';
import type { RunManifest } from '../src/store/artifactStore.js';
import { currentProgress } from './follow.js';
import { progressText, renderMetrics, renderStatus } from './render.js';
import { openSession, store } from './temporal.js';

/**
 * The status of a run: live from Temporal when a server is reachable, otherwise from the run
 * manifest in the artifact store (enough for finished runs, and from any machine that sees it).
 */
export async function showStatus(workflowId: string | undefined, out: NodeJS.WritableStream = process.stdout): Promise<RunStatus> {
  const id = workflowId ?? (await store().listRunManifests()).at(-1)?.workflowId;
  if (!id) throw new Error('no runs yet: start one with `lcrec run`');
  const live = await liveStatus(id).catch(() => undefined);
  if (live) {
    out.write(`${renderStatus(live.status, 'Temporal')}\n`);
    if (live.beat) out.write(`  now: ${progressText(live.beat.stage, live.beat.beat)}\n`);
    const metrics = renderMetrics(live.status);
    if (metrics) out.write(`${metrics}\n`);
    return live.status;
  }
  const manifest = await store().getRunManifest(id);
  if (!manifest) throw new Error(`no run ${id}: not on the Temporal server and no run manifest in ${store().location}`);
  const status = statusFromManifest(manifest);
  out.write(`${renderStatus(status, 'run manifest')}\n`);
  const metrics = renderMetrics(status);
  if (metrics) out.write(`${metrics}\n`);
  return status;
}

async function liveStatus(workflowId: string) {
  const session = await openSession({ startServer: false });
  if (!session) return undefined;
  try {
    const handle = session.client.workflow.getHandle(workflowId);
    const { status } = await handle.describe();
    // A query needs a worker to replay the workflow; a finished run answers with its result instead.
    if (status.name === 'RUNNING') return await currentProgress(handle);
    if (status.name === 'COMPLETED') return { status: (await handle.result()) as RunStatus };
    return undefined; // failed, cancelled, terminated: the run manifest holds the final status
  } finally {
    await session.close();
  }
}

export function statusFromManifest(manifest: RunManifest): RunStatus {
  return manifest as unknown as RunStatus;
}

export async function listRuns(out: NodeJS.WritableStream = process.stdout): Promise<RunManifest[]> {
  const runs = await store().listRunManifests();
  if (runs.length === 0) out.write(`no runs in ${store().location}\n`);
  for (const run of runs) {
    const status = statusFromManifest(run);
    const stages = status.stages.map((s) => `${s.stage}:${s.state}`).join(' ');
    out.write(`${status.workflowId}  ${status.state.padEnd(9)}  ${status.startedAt}  ${stages}\n`);
  }
  return runs;
}
