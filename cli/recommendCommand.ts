/**
 * `lcrec recommend --run RUN (--history <id,...> | --users-file FILE --out FILE.parquet) [--top K]`
 * (not registered in cli/main.ts yet; the integrator adds the command there with the ModelLoader
 * from src/llm). It reads everything from the run's published artifacts: the run manifest says
 * which stage keys the run used; the evaluate stage must have finished, so the model it
 * recommends with is the one whose metrics the run reports.
 */
import type { EvaluateSettings } from '../src/eval/settings.js';
import { DecodingTrie } from '../src/search/decodingTrie.js';
import { BadInputError } from '../src/errors.js';
import type { ModelLoader } from '../src/eval/stage.js';
import type { StageStatus } from '../src/pipeline/contracts.js';
import { readItemCatalog, readUsersFile, recommend, resolveHistory, writeRecommendations, type Recommendation } from '../src/search/recommend.js';
import { readSemanticIds } from '../src/semid/writeSemanticIds.js';
import type { ArtifactStore } from '../src/store/artifactStore.js';

export interface RecommendFlags {
  run: string;
  /** Comma-separated item identifiers (ASINs), oldest first. */
  history?: string;
  usersFile?: string;
  /** Parquet output of a --users-file run. */
  out?: string;
  top: string | number;
  /** Defaults to the run's evaluate.beamWidth (else 10). */
  beam?: string | number;
  /** Defaults to the run's evaluate.template (else 0). */
  template?: string | number;
}

export interface RecommendDeps {
  store: ArtifactStore;
  loadModel: ModelLoader;
  out: NodeJS.WritableStream;
}

const FINISHED = new Set(['done', 'cached']);
const DEFAULTS = { beamWidth: 10, template: 0, maxHistory: 20 };

export async function recommendCommand(flags: RecommendFlags, deps: RecommendDeps): Promise<Recommendation[][]> {
  if ((flags.history === undefined) === (flags.usersFile === undefined)) throw new BadInputError('give exactly one of --history <id,...> and --users-file <file>');
  if (flags.usersFile !== undefined && flags.out === undefined) throw new BadInputError('--users-file needs --out <file.parquet> for the results', { field: '--out' });
  const top = positiveInt(flags.top, '--top');

  const manifest = await deps.store.getRunManifest(flags.run);
  if (!manifest) throw new BadInputError(`no run '${flags.run}' in ${deps.store.location} (see \`lcrec runs list\`)`, { field: '--run' });
  const stages = (Array.isArray(manifest.stages) ? manifest.stages : []) as StageStatus[];
  const evaluate = stages.find((s) => s.stage === ('evaluate' as StageStatus['stage']));
  if (!evaluate || !FINISHED.has(evaluate.state)) {
    throw new BadInputError(`run '${flags.run}' has no finished evaluate stage (${evaluate ? `state: ${evaluate.state}` : 'the run has none'}); run or resume it first`, { field: '--run' });
  }
  const evalConfig = ((manifest.config as { evaluate?: Partial<EvaluateSettings> } | undefined)?.evaluate ?? {}) as Partial<EvaluateSettings>;
  const beamWidth = flags.beam !== undefined ? positiveInt(flags.beam, '--beam') : (evalConfig.beamWidth ?? DEFAULTS.beamWidth);
  const template = flags.template !== undefined ? nonNegativeInt(flags.template, '--template') : (evalConfig.template ?? DEFAULTS.template);
  const maxHistory = evalConfig.maxHistory ?? DEFAULTS.maxHistory;
  if (top > beamWidth) throw new BadInputError(`--top ${top} is larger than the beam width ${beamWidth}: give --beam ${top} or more`, { field: '--top' });

  // Local copies of every finished stage's files, by stage name.
  const dirs: Record<string, string> = {};
  for (const s of stages) {
    if (!s.key || !FINISHED.has(s.state)) continue;
    const artifact = await deps.store.getManifest(s.stage, s.key);
    if (!artifact) throw new BadInputError(`run '${flags.run}': stage ${s.stage} key ${s.key} has no published artifact in ${deps.store.location}`);
    dirs[s.stage] = await deps.store.localDir(artifact);
  }
  for (const needed of ['ingest', 'semid']) if (!dirs[needed]) throw new BadInputError(`run '${flags.run}' has no finished ${needed} stage`, { field: '--run' });

  // Resolve every history before the (slow) model load, so typos fail at once.
  const catalog = await readItemCatalog(dirs.ingest as string);
  const users = flags.usersFile !== undefined ? await readUsersFile(flags.usersFile) : [{ user: 'history', history: (flags.history as string).split(','), line: 0 }];
  const histories = users.map((u) => resolveHistory(catalog, u.history, flags.usersFile !== undefined ? { file: flags.usersFile, line: u.line } : { field: '--history' }));

  const semanticIds = await readSemanticIds(dirs.semid as string);
  const model = await deps.loadModel({ dirs, semanticIds });
  try {
    const trie = DecodingTrie.fromSemanticIds(semanticIds.trie, model.tokens);
    if (!model.seqrecTemplates.includes(template)) throw new BadInputError(`template ${template} is not a seqrec template (known: ${model.seqrecTemplates.join(', ')})`, { field: '--template' });
    const lists = await recommend({ sessions: model.sessions, trie, renderPrompt: model.renderPrompt }, catalog, histories, { top, beamWidth, template, maxHistory });
    if (flags.out !== undefined) {
      await writeRecommendations(flags.out, users.map((u) => u.user), lists);
      deps.out.write(`${users.length} users, top ${top} each (beam ${beamWidth}, template ${template}) -> ${flags.out}\n`);
    } else {
      deps.out.write(`top ${top} after ${users[0]!.history.map((h) => h.trim()).filter(Boolean).join(', ')} (run ${flags.run}, beam ${beamWidth}, template ${template}; score = log P(item | history))\n`);
      deps.out.write(renderList(lists[0] ?? []));
    }
    return lists;
  } finally {
    model.dispose();
  }
}

export function renderList(list: readonly Recommendation[]): string {
  const rows = list.map((r) => [String(r.rank), r.asin ?? r.sourceId, r.score.toFixed(4), r.title]);
  const header = ['rank', 'item', 'score', 'title'];
  const width = (c: number) => Math.max(header[c]!.length, ...rows.map((r) => r[c]!.length));
  const line = (cells: string[]) => `  ${cells[0]!.padStart(width(0))}  ${cells[1]!.padEnd(width(1))}  ${cells[2]!.padStart(width(2))}  ${cells[3]}\n`;
  return line(header) + rows.map(line).join('');
}

function positiveInt(value: string | number, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new BadInputError(`must be a positive integer, got '${value}'`, { field: flag });
  return n;
}

function nonNegativeInt(value: string | number, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new BadInputError(`must be a non-negative integer, got '${value}'`, { field: flag });
  return n;
}
