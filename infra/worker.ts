import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.js';
import { TASK_QUEUES, type QueueName } from '../workflows/queues.js';

const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

let bundle: Promise<WorkflowBundle> | undefined;

/** Workflow code is bundled once per process and shared by every worker. */
function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
  return bundle;
}

export interface WorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  /** Which queues to poll; workflows run on the cpu queue. */
  queues: QueueName[];
  deps: ActivityDeps;
}

/** One Temporal worker per queue, in this process. */
export async function createWorkers(opts: WorkerOptions): Promise<Worker[]> {
  const activities = createActivities(opts.deps);
  return Promise.all(
    opts.queues.map(async (queue) =>
      Worker.create({
        connection: opts.connection,
        namespace: opts.namespace ?? 'default',
        taskQueue: TASK_QUEUES[queue],
        activities,
        // Heartbeats carry the progress `lcrec status` shows: send them every couple of seconds
        // instead of the SDK's default (80% of the heartbeat timeout).
        maxHeartbeatThrottleInterval: '2s',
        ...(queue === 'cpu' ? { workflowBundle: await workflowBundle() } : {}),
      }),
    ),
  );
}

/** Runs the workers until `until` settles, then shuts them down; returns `until`'s value. */
export async function runWorkersUntil<T>(workers: Worker[], until: Promise<T>): Promise<T> {
  const [first, ...rest] = workers;
  if (!first) return until;
  // runUntil on one worker drives the shutdown of the others when `until` settles.
  const others = rest.map((w) => w.runUntil(until.then(() => undefined, () => undefined)));
  try {
    return await first.runUntil(until);
  } finally {
    await Promise.allSettled(others);
  }
}

/** Connects a worker to the server; installs the quiet runtime first (it must precede any connection). */
export async function connectWorker(address: string): Promise<NativeConnection> {
  quietRuntime();
  return NativeConnection.connect({ address });
}

let runtimeInstalled = false;
/** The SDK logs every worker state change at INFO; the CLI shows its own progress instead. */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  if (process.env.LCREC_WORKER_LOG === 'debug') return;
  const print = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    if (isReportedElsewhere(message, meta)) return;
    // The SDK's metadata carries task tokens and serialises errors as {}: keep what a person reads.
    const { activityType, workflowId, attempt, error } = meta ?? {};
    const reason = error instanceof Error ? error.message : undefined;
    const facts = Object.entries({ activityType, workflowId, attempt, reason }).filter(([, v]) => v !== undefined);
    process.stderr.write(`temporal worker ${level}: ${message}${facts.map(([k, v]) => ` ${k}=${String(v)}`).join('')}\n`);
  };
  const silent = () => undefined;
  Runtime.install({ logger: { log: silent, trace: silent, debug: silent, info: silent, warn: print('warn'), error: print('error') } });
}

/** Failures the run's status already reports with their reason: no need to log them twice. */
function isReportedElsewhere(message: string, meta?: Record<string, unknown>): boolean {
  if (message.startsWith('No workflows registered') || message === 'Workflow failed') return true;
  const error = meta?.error as { nonRetryable?: boolean } | undefined;
  return message === 'Activity failed' && error?.nonRetryable === true;
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => process.stderr.write(`workflow bundler: ${message}\n`),
  error: (message: string) => process.stderr.write(`workflow bundler: ${message}\n`),
};
