/**
 * The small JSON values that travel between the CLI, workflows and activities. Never tensors or
 * tables: stages exchange artifact keys, and read the files from the artifact store.
 */
import type { PipelineConfig } from '../config/schema.js';
import type { ArtifactFile } from '../store/artifactStore.js';

/** Every stage, each after the stages it reads (workflows/pipeline.ts holds the graph). */
export const STAGE_NAMES = ['ingest', 'baselines', 'embed', 'rqvae', 'semid', 'prompts', 'finetune', 'evaluate'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

export interface PipelineInput {
  config: PipelineConfig;
  /** Package version of the code that started the run; part of the workflow id. */
  codeVersion: string;
  /** Stages to run again although their keys are published; not part of the workflow id. */
  rerun?: RerunRequest;
}

/**
 * `from`: that stage and every stage downstream of it run again. `force`: only the stages named
 * (stages downstream run again only if their inputs' content changed, as always).
 */
export interface RerunRequest {
  from?: StageName;
  force?: StageName[];
}

/** What a stage's key was computed from, and whether the key is already published. */
export interface StagePlan {
  stage: StageName;
  key: string;
  codeVersion: string;
  config: unknown;
  /** Content digests of the stage's inputs, by name. */
  inputs: Record<string, string>;
  /** Stage-specific facts the run step needs (e.g. the resolved source files). */
  params: Record<string, unknown>;
  /** Set when the key already has a manifest: the stage is skipped. */
  cached?: StageOutput;
  /** A forced rerun: run although `cached`, and replace the key's manifest. */
  force?: boolean;
}

export interface StageOutput {
  stage: StageName;
  key: string;
  attempt: string;
  files: ArtifactFile[];
  summary: Record<string, unknown>;
  /** Wall time of the attempt that produced the artifact. */
  durationMs?: number;
}

export type StageState = 'pending' | 'planning' | 'running' | 'cached' | 'done' | 'failed' | 'skipped' | 'cancelled';

export interface StageStatus {
  stage: StageName;
  state: StageState;
  key?: string;
  attempt?: string;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  summary?: Record<string, unknown>;
  error?: string;
}

export interface RunStatus {
  workflowId: string;
  runId: string;
  name: string;
  state: 'running' | 'completed' | 'failed' | 'cancelled';
  startedAt: string;
  finishedAt?: string;
  stages: StageStatus[];
  error?: string;
}

/** Progress details an activity heartbeats; `lcrec status` shows them for running stages. */
export interface StageHeartbeat {
  phase: string;
  done: number;
  total?: number;
}
