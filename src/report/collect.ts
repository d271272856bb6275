/**
 * Gathers everything the run report shows from the artifact store: the run manifest (config,
 * stage keys, states, timings, environment), and the published files of each stage the run
 * finished or reused. Only reads; the result is plain data that html.ts renders.
 */
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { z } from 'zod';
import { BadInputError } from '../errors.js';
import { readSemanticIds } from '../semid/writeSemanticIds.js';
import type { ArtifactStore } from '../store/artifactStore.js';
import { readParquet } from '../tables/parquet.js';
import { readEvaluationMetrics, type EvaluationMetrics } from '../eval/evaluationFiles.js';
import { EVAL_METRICS_FILE, EVALUATE_SHARD_STAGE, EVALUATE_STAGE, FINETUNE_STAGE, TRAINING_LOG_FILE, TrainingLogSchema, type TrainingLog } from './llmFiles.js';
import { referenceFor, type ReferenceTable } from './references.js';
import {
  BaselineMetricsSchema,
  CollisionReportSchema,
  IngestStatsSchema,
  readJsonFile,
  RqvaeReportSchema,
  type BaselineMetrics,
  type CollisionReport,
  type IngestStats,
  type RqvaeReport,
} from './stageFiles.js';

/** The run manifest fields the report uses (activities/runManifest.ts writes them). */
const RunManifestSchema = z.looseObject({
  workflowId: z.string(),
  runId: z.string(),
  name: z.string().optional(),
  state: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  error: z.string().optional(),
  seed: z.number().optional(),
  codeVersion: z.unknown().optional(),
  artifactStore: z.string().optional(),
  config: z.looseObject({
    name: z.string(),
    dataset: z.looseObject({ source: z.string(), format: z.string() }),
  }),
  environment: z
    .looseObject({
      packageVersion: z.string().optional(),
      gitCommit: z.string().nullable().optional(),
      node: z.string().optional(),
      platform: z.string().optional(),
      tensorBackend: z.string().nullable().optional(),
    })
    .optional(),
  stages: z.array(
    z.looseObject({
      stage: z.string(),
      state: z.string(),
      key: z.string().optional(),
      attempt: z.string().optional(),
      startedAt: z.string().optional(),
      finishedAt: z.string().optional(),
      durationMs: z.number().optional(),
      summary: z.record(z.string(), z.unknown()).optional(),
      error: z.string().optional(),
    }),
  ),
});
type RunManifestView = z.infer<typeof RunManifestSchema>;

/** Stages whose work runs on the tensor engine; the others are plain CPU code. */
const TENSOR_STAGES = new Set(['rqvae', 'semid', FINETUNE_STAGE, EVALUATE_STAGE, EVALUATE_SHARD_STAGE]);
const PLAIN_STAGES = new Set(['ingest', 'embed', 'prompts']);
/** Stages whose files the report reads (readStageFiles). */
const STAGES_READ = new Set(['ingest', 'rqvae', 'semid', 'baselines', FINETUNE_STAGE, EVALUATE_STAGE]);

export interface StageTiming {
  stage: string;
  state: string;
  key?: string;
  attempt?: string;
  startedAt?: string;
  finishedAt?: string;
  /** Wall time of the stage in this run; for a reused (cached) stage only the lookup. */
  runMs?: number;
  /** Wall time of the attempt that produced the artifact (from its manifest). */
  producedMs?: number;
  /** When that artifact was published. */
  producedAt?: string;
  /** The tensor backend, and where that fact comes from. */
  backend: string;
  /** Short facts from the stage summary, e.g. "570 users". */
  summary: string[];
  error?: string;
}

export interface ReportData {
  run: {
    workflowId: string;
    runId: string;
    name: string;
    state: string;
    startedAt: string;
    finishedAt?: string;
    error?: string;
    seed?: number;
    artifactStore?: string;
    datasetSource: string;
    datasetFormat: string;
    packageVersion?: string;
    gitCommit?: string | null;
    node?: string;
    platform?: string;
    tensorBackend?: string | null;
    config: unknown;
  };
  stages: StageTiming[];
  dataset?: { stats: IngestStats; lengthCounts: { length: number; users: number }[] };
  rqvae?: RqvaeReport;
  semid?: { report: CollisionReport; countsByLevel: number[][] };
  baselines?: BaselineMetrics;
  finetune?: TrainingLog;
  evaluation?: EvaluationMetrics;
  /** What the evaluate stage says about the model it decoded (its summary's `model`), if anything. */
  evaluatedModel?: string;
  reference?: ReferenceTable;
  /** Sections that could not be filled, and why (stage not run, failed, not built yet). */
  notes: string[];
}

/** Reads a run's manifest and its stages' artifacts. Fails with a BadInputError for an unknown run. */
export async function collectReportData(store: ArtifactStore, workflowId: string): Promise<ReportData> {
  const raw = await store.getRunManifest(workflowId);
  if (!raw) throw new BadInputError(`no run ${JSON.stringify(workflowId)} in ${store.location} (see \`lcrec runs list\`)`);
  const parsed = RunManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new BadInputError(issue.message, { file: `run manifest of ${workflowId} in ${store.location}`, field: issue.path.map(String).join('.') });
  }
  const manifest = parsed.data;
  const data: ReportData = { run: runFacts(manifest), stages: [], notes: [] };

  for (const status of manifest.stages) {
    const timing: StageTiming = {
      stage: status.stage,
      state: status.state,
      key: status.key,
      attempt: status.attempt,
      startedAt: status.startedAt,
      finishedAt: status.finishedAt,
      runMs: status.durationMs,
      backend: '-',
      summary: summaryFacts(status.summary),
      error: status.error,
    };
    data.stages.push(timing);
    const finished = status.state === 'done' || status.state === 'cached';
    if (!finished || !status.key) {
      if (status.state === 'failed') data.notes.push(`stage ${status.stage} failed${status.error ? `: ${status.error.split('\n')[0]}` : ''}`);
      else data.notes.push(`stage ${status.stage} is ${status.state}: its results are not in this report yet`);
      timing.backend = backendOf(status.stage, status.summary, undefined);
      continue;
    }
    const artifact = await store.getManifest(status.stage, status.key);
    if (!artifact) {
      data.notes.push(`stage ${status.stage}: artifact ${status.key} has no manifest in ${store.location}`);
      continue;
    }
    timing.producedAt = artifact.createdAt;
    if (typeof artifact.summary.durationMs === 'number') timing.producedMs = artifact.summary.durationMs;
    // A reused stage ran in another process: only its own summary can say which backend it used.
    timing.backend = backendOf(status.stage, artifact.summary, status.state === 'done' ? manifest.environment?.tensorBackend : undefined);
    // The evaluate shards describe the model they decoded (architecture, parameters, backend).
    if ([EVALUATE_STAGE, EVALUATE_SHARD_STAGE].includes(status.stage) && typeof artifact.summary.model === 'string') data.evaluatedModel ??= artifact.summary.model;
    // Only stages the report reads are fetched (on S3, localDir downloads every file of the artifact).
    if (!STAGES_READ.has(status.stage)) continue;
    const dir = await store.localDir(artifact);
    await readStageFiles(data, status.stage, dir, artifact.files.map((f) => f.name));
  }
  for (const [stage, what] of [
    ['ingest', 'dataset statistics'],
    ['rqvae', 'RQ-VAE curves'],
    ['semid', 'collision report'],
    ['baselines', 'baseline metrics'],
    [FINETUNE_STAGE, 'LLM loss curves'],
    [EVALUATE_STAGE, "the model's metrics"],
  ] as const) {
    if (!manifest.stages.some((s) => s.stage === stage)) data.notes.push(`no ${stage} stage in this run: ${what} not shown`);
  }
  if (data.dataset) data.reference = referenceFor({ source: data.run.datasetSource, name: data.run.name });
  return data;
}

function runFacts(m: RunManifestView): ReportData['run'] {
  const env = m.environment ?? {};
  return {
    workflowId: m.workflowId,
    runId: m.runId,
    name: m.name ?? m.config.name,
    state: m.state,
    startedAt: m.startedAt,
    finishedAt: m.finishedAt,
    error: m.error,
    seed: m.seed,
    artifactStore: m.artifactStore,
    datasetSource: m.config.dataset.source,
    datasetFormat: m.config.dataset.format,
    packageVersion: env.packageVersion,
    gitCommit: env.gitCommit,
    node: env.node,
    platform: env.platform,
    tensorBackend: env.tensorBackend,
    config: m.config,
  };
}

async function readStageFiles(data: ReportData, stage: string, dir: string, files: string[]): Promise<void> {
  const has = (name: string) => files.includes(name);
  switch (stage) {
    case 'ingest': {
      const stats = await readJsonFile(join(dir, 'stats.json'), IngestStatsSchema);
      data.dataset = { stats, lengthCounts: await sequenceLengthCounts(join(dir, 'sequences.parquet')) };
      return;
    }
    case 'rqvae':
      data.rqvae = await readJsonFile(join(dir, 'training_report.json'), RqvaeReportSchema);
      return;
    case 'semid': {
      const report = await readJsonFile(join(dir, 'collision_report.json'), CollisionReportSchema);
      data.semid = { report, countsByLevel: await codeCounts(dir, report) };
      return;
    }
    case 'baselines':
      data.baselines = await readJsonFile(join(dir, 'metrics.json'), BaselineMetricsSchema);
      return;
    case FINETUNE_STAGE:
      if (has(TRAINING_LOG_FILE)) data.finetune = await readJsonFile(join(dir, TRAINING_LOG_FILE), TrainingLogSchema);
      else data.notes.push(`stage ${FINETUNE_STAGE} published no ${TRAINING_LOG_FILE}: LLM loss curves not shown`);
      return;
    case EVALUATE_STAGE:
      if (has(EVAL_METRICS_FILE)) data.evaluation = await readEvaluationMetrics(dir);
      else data.notes.push(`stage ${EVALUATE_STAGE} published no ${EVAL_METRICS_FILE}: the model's metrics not shown`);
      return;
    default:
      return;
  }
}

/** Users per sequence length, from sequences.parquet's `length` column. */
async function sequenceLengthCounts(file: string): Promise<{ length: number; users: number }[]> {
  const table = await readParquet(file, { length: new arrow.Int32() });
  const counts = new Map<number, number>();
  for (const n of table.getChild('length')!.toArray() as Int32Array) counts.set(n, (counts.get(n) ?? 0) + 1);
  return [...counts].sort((a, b) => a[0] - b[0]).map(([length, users]) => ({ length, users }));
}

/** Items per code at each level of the final IDs, every code of the level's codebook included. */
async function codeCounts(dir: string, report: CollisionReport): Promise<number[][]> {
  const ids = await readSemanticIds(dir);
  const counts = Array.from({ length: ids.levels }, (_, level) => {
    let size = report.codebookSizes[level] ?? 0;
    for (let i = 0; i < ids.items; i++) size = Math.max(size, ids.codes[i * ids.levels + level]! + 1);
    return new Array<number>(size).fill(0);
  });
  for (let i = 0; i < ids.items; i++) {
    for (let level = 0; level < ids.levels; level++) counts[level]![ids.codes[i * ids.levels + level]!]! += 1;
  }
  return counts;
}

/**
 * The backend a stage ran on: what its summary records (`backend`, or a nested `*.backend` such
 * as the baselines' `sasrec.backend`); for a tensor stage that ran in this run without recording
 * it, the run's worker backend; plain CPU stages use none.
 */
function backendOf(stage: string, summary: Record<string, unknown> | undefined, runBackend: string | null | undefined): string {
  const recorded = findBackend(summary);
  if (recorded) return recorded;
  if (PLAIN_STAGES.has(stage)) return 'none (no tensor work)';
  if (TENSOR_STAGES.has(stage) && runBackend) return `${runBackend} (the run's worker)`;
  return '-';
}

function findBackend(summary: Record<string, unknown> | undefined): string | undefined {
  if (!summary) return undefined;
  if (typeof summary.backend === 'string') return summary.backend;
  for (const [name, value] of Object.entries(summary)) {
    if (value && typeof value === 'object' && typeof (value as { backend?: unknown }).backend === 'string') {
      return `${(value as { backend: string }).backend} (${name})`;
    }
  }
  return undefined;
}

/** Scalar facts of a stage summary ("570 users", "reconLoss 0.637"); nested objects and timings left out. */
function summaryFacts(summary: Record<string, unknown> | undefined): string[] {
  const facts: string[] = [];
  for (const [key, value] of Object.entries(summary ?? {})) {
    if (key === 'durationMs' || value === null || typeof value === 'object') continue;
    if (typeof value === 'number' && !Number.isInteger(value)) facts.push(`${key} ${Number(value.toPrecision(3))}`);
    else facts.push(`${typeof value === 'number' ? value.toLocaleString('en-US') : String(value)} ${key}`);
  }
  return facts;
}
