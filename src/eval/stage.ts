/**
 * The evaluate stage as two library calls, one per kind of activity (spec G; issue 8 item 3):
 * `runEvaluateShard` decodes one shard of users and writes its shard directory;
 * `runEvaluateMerge` joins the shard directories into metrics.json, predictions.parquet and
 * targets.parquet (evaluationFiles.ts documents the files). The model comes from a ModelLoader,
 * so this module knows nothing of how a fine-tuned model is stored or how prompts are written.
 */
import { mkdir } from 'node:fs/promises';
import { readSequenceData } from '../data/datasetReader.js';
import { BadInputError } from '../errors.js';
import type { SessionFactory } from '../search/decodeSession.js';
import { DecodingTrie, type CodeTokens } from '../search/decodingTrie.js';
import { readSemanticIds, type SemanticIds } from '../semid/writeSemanticIds.js';
import { evaluateUsers, lengthSortWindow, type RenderPrompt } from './generative.js';
import { mergeShards, readShard, writeEvaluation, writeShard, type EvaluationMetrics } from './evaluationFiles.js';
import { evaluationTemplates, parseEvaluateSettings, type EvaluateSettings } from './settings.js';
import { shardRange } from './shards.js';

/** Bumped whenever a change alters predictions or metrics, so stage keys change with it. */
export const EVALUATE_CODE_VERSION = 'evaluate/1';

/** A fine-tuned model ready to decode, with its code tokens and its prompt renderer. */
export interface LoadedModel {
  sessions: SessionFactory;
  /** Where `<C{level}_{code}>` and EOS sit in the model's vocabulary. */
  tokens: CodeTokens;
  renderPrompt: RenderPrompt;
  /** Every seqrec template id the prompt renderer knows (for `allTemplates`). */
  seqrecTemplates: readonly number[];
  /** A short description for logs and summaries (architecture, parameters, backend). */
  describe: string;
  dispose(): void;
}

/**
 * Loads the model of a run. `dirs` holds the local directory of every upstream stage output by
 * stage name (e.g. finetune, prompts, semid, ingest); the semantic IDs are already read.
 * Supplied by the integrator from src/llm and src/prompts.
 */
export type ModelLoader = (inputs: { dirs: Readonly<Record<string, string>>; semanticIds: SemanticIds }) => Promise<LoadedModel>;

export interface EvaluateShardInputs {
  /** Local directories of the upstream outputs by stage name; needs at least `ingest` and `semid`. */
  dirs: Readonly<Record<string, string>>;
}

export interface ShardSummary extends Record<string, unknown> {
  shard: number;
  shards: number;
  users: number;
  prompts: number;
  modelSeconds: number;
  /** The part of modelSeconds spent on the prompts' prefill. */
  prefillSeconds: number;
  searchSeconds: number;
  promptsPerSecond: number;
  model: string;
}

export async function runEvaluateShard(
  inputs: EvaluateShardInputs,
  outDir: string,
  settings: EvaluateSettings,
  shard: number,
  loadModel: ModelLoader,
  opts: { signal?: AbortSignal; onProgress?: (p: { phase: string; done: number; total?: number }) => void } = {},
): Promise<ShardSummary> {
  settings = parseEvaluateSettings(settings);
  const ingest = requireDir(inputs.dirs, 'ingest');
  const semid = requireDir(inputs.dirs, 'semid');
  await mkdir(outDir, { recursive: true });
  opts.onProgress?.({ phase: 'loading', done: 0 });
  const { sequences } = await readSequenceData(ingest);
  const semanticIds = await readSemanticIds(semid);
  const model = await loadModel({ dirs: inputs.dirs, semanticIds });
  try {
    const trie = DecodingTrie.fromSemanticIds(semanticIds.trie, model.tokens);
    const templates = evaluationTemplates(settings, model.seqrecTemplates);
    const users = shardRange(sequences.length, shard, settings.shards, lengthSortWindow(settings.batchPrompts));
    const started = performance.now();
    const evaluation = await evaluateUsers({ sessions: model.sessions, trie, renderPrompt: model.renderPrompt }, sequences, users, {
      splits: settings.splits,
      templates,
      beamWidth: settings.beamWidth,
      batchPrompts: settings.batchPrompts,
      maxHistory: settings.maxHistory,
      signal: opts.signal,
      onProgress: opts.onProgress,
    });
    const seconds = (performance.now() - started) / 1000;
    await writeShard(outDir, evaluation, shard, settings.shards);
    const { timing } = evaluation;
    return {
      shard,
      shards: settings.shards,
      users: users.to - users.from,
      prompts: timing.prompts,
      modelSeconds: round(timing.modelMs / 1000),
      prefillSeconds: round(timing.prefillMs / 1000),
      searchSeconds: round(timing.searchMs / 1000),
      promptsPerSecond: round(seconds > 0 ? timing.prompts / seconds : 0),
      model: model.describe,
    };
  } finally {
    model.dispose();
  }
}

/** Merges shard directories (any order) of one evaluation into `outDir`. */
export async function runEvaluateMerge(ingestDir: string, shardDirs: readonly string[], outDir: string): Promise<EvaluationMetrics> {
  await mkdir(outDir, { recursive: true });
  const { sequences } = await readSequenceData(ingestDir);
  const shards = [];
  for (const dir of shardDirs) shards.push(await readShard(dir));
  return writeEvaluation(outDir, mergeShards(shards, sequences.length));
}

/**
 * The figures `lcrec status` and the run's results table show (cli/render.ts renderMetrics):
 * `{ [model]: { [split]: Recall/NDCG@5/10 } }`, the template mean, beside the baselines' rows.
 */
export function metricsSummary(metrics: EvaluationMetrics): Record<string, Record<string, Record<string, number>>> {
  const bySplit: Record<string, Record<string, number>> = {};
  for (const [split, report] of Object.entries(metrics.splits)) {
    const m = report.mean;
    bySplit[split] = { 'recall@5': m['recall@5'], 'recall@10': m['recall@10'], 'ndcg@5': m['ndcg@5'], 'ndcg@10': m['ndcg@10'] };
  }
  const label = metrics.templates.length > 1 ? `lc-rec (mean of ${metrics.templates.length} templates)` : 'lc-rec';
  return { [label]: bySplit };
}

function requireDir(dirs: Readonly<Record<string, string>>, stage: string): string {
  const dir = dirs[stage];
  if (dir === undefined) throw new BadInputError(`the evaluate stage needs the output of '${stage}' (given: ${Object.keys(dirs).join(', ') || 'none'})`);
  return dir;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
