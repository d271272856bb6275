import { resolve } from 'node:path';
import type { PipelineConfig } from '../src/config/schema.js';
import type { PipelineInput, RerunRequest, RunStatus } from '../src/pipeline/contracts.js';
import { digestOf } from '../src/util/canonical.js';
import { packageVersion } from '../src/util/environment.js';
import { TASK_QUEUES } from '../workflows/queues.js';
import { followRun } from './follow.js';
import { renderMetrics, renderStatus } from './render.js';
import { openSession } from './temporal.js';

/**
 * Same dataset, config and code: same workflow id. Started with the "use existing" conflict
 * policy, a second trigger attaches to a running execution instead of starting another.
 */
export function workflowIdFor(input: PipelineInput): string {
  const { config, codeVersion } = input;
  return `lcrec-${config.name}-${digestOf({ config, codeVersion }).slice(0, 12)}`;
}

/** Paths are made absolute so every worker, and the workflow id, see the same source (s3:// URIs stay as given). */
export function normalizeConfig(config: PipelineConfig): PipelineConfig {
  const given = config.dataset.source;
  // Only local paths are made absolute: sample, s3://, http(s) URLs and registry names stay as given.
  const source = given === 'sample' || /^[a-z][a-z0-9+.-]*:/i.test(given) ? given : resolve(given);
  return { ...config, dataset: { ...config.dataset, source } };
}

export interface RunOptions {
  keepServer?: boolean;
  /** Return once started instead of following the run (only with a remote cluster). */
  detach?: boolean;
  out?: NodeJS.WriteStream;
}

export async function runPipeline(config: PipelineConfig, opts: RunOptions & { rerun?: RerunRequest } = {}): Promise<RunStatus | undefined> {
  const input: PipelineInput = { config: normalizeConfig(config), codeVersion: await packageVersion(), ...(opts.rerun ? { rerun: opts.rerun } : {}) };
  return startOrAttach(input, workflowIdFor(input), opts);
}

/** Starts (or attaches to) the execution `workflowId` for `input`, and follows it to the end. */
export async function startOrAttach(input: PipelineInput, workflowId: string, opts: RunOptions): Promise<RunStatus | undefined> {
  const out = opts.out ?? process.stdout;
  const session = await openSession({ keepServer: opts.keepServer });
  if (!session) throw new Error('no Temporal server');
  try {
    const handle = await session.client.workflow.start('pipelineWorkflow', {
      taskQueue: TASK_QUEUES.cpu,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    out.write(`run ${workflowId} (Temporal ${session.address}, ${session.embedded ? 'in-process worker' : 'cluster workers'})\n`);
    if (opts.detach && !session.embedded) return undefined;
    const status = await session.serve(followRun(handle));
    out.write(`${renderStatus(status, 'workflow')}\n`);
    const metrics = renderMetrics(status);
    if (metrics) out.write(`${metrics}\n`);
    return status;
  } finally {
    await session.close();
  }
}
