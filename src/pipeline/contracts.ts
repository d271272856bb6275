/**
 * The small JSON values that travel between the CLI, workflows and activities. Never tensors or
 * tables: stages exchange artifact keys, and read the files from the artifact store.
 */
import type { PipelineConfig } from '../config/schema.js';
import type { ArtifactFile } from '../store/artifactStore.js';

export type StageName = 'ingest' | 'baselines' | 'embed' | 'rqvae' | 'semid';

export interface PipelineInput {
  config: PipelineConfig;
  /** Package version of the code that started the run; part of the workflow id. */
  codeVersion: string;
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

export type StageState = 'pending' | 'planning' | 'running' | 'cached' | 'done' | 'failed' | 'skipped';

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
  state: 'running' | 'completed' | 'failed';
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
