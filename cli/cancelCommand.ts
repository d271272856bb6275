import { WorkflowNotFoundError } from '@temporalio/client';
import { BadInputError } from '../src/errors.js';
import type { RunStatus } from '../src/pipeline/contracts.js';
import { renderStatus } from './render.js';
import { statusFromManifest } from './statusCommand.js';
import { openSession, store } from './temporal.js';

/**
 * Asks a running run to stop. Its stages see the cancellation at their next heartbeat, stop at a
 * safe point (a training loop leaves its checkpoint), drop their workspaces and publish nothing;
 * `lcrec resume` continues it later. Waits up to `waitMs` for the run to end and shows its state.
 */
export async function cancelRun(workflowId: string, opts: { waitMs: number; out?: NodeJS.WriteStream }): Promise<RunStatus | undefined> {
  const out = opts.out ?? process.stdout;
  const session = await openSession({ startServer: false });
  if (!session) throw new BadInputError(`no Temporal server is running for this LCREC_HOME, so run ${workflowId} cannot be running either`);
  try {
    const handle = session.client.workflow.getHandle(workflowId);
    let description;
    try {
      description = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new BadInputError(`no run ${workflowId} on ${session.address}`);
      throw err;
    }
    if (description.status.name !== 'RUNNING') {
      throw new BadInputError(`run ${workflowId} is not running (it is ${description.status.name.toLowerCase()})`);
    }
    await handle.cancel();
    out.write(`cancellation requested for ${workflowId}\n`);
    const ended = await Promise.race([
      handle.result().then(() => true, () => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), opts.waitMs).unref()),
    ]);
    if (!ended) {
      out.write(`the run has not stopped within ${Math.round(opts.waitMs / 1000)} s (is a worker running?); it stops when a worker picks the request up\n`);
      return undefined;
    }
    // A closed run answers queries only through a worker: its run manifest holds the final state.
    const manifest = await store().getRunManifest(workflowId);
    const status = manifest && statusFromManifest(manifest);
    if (status) out.write(`${renderStatus(status, 'run manifest')}\n`);
    return status;
  } finally {
    await session.close();
  }
}
