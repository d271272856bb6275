import { Command, Option } from 'commander';
import { stringify as toYaml } from 'yaml';
import { collectLayers, validateLayers, type ConfigSources } from '../src/config/load.js';
import { PRESET_NAMES } from '../src/config/presets.js';
import { DATASET_FORMATS, type PipelineConfig } from '../src/config/schema.js';
import { BadInputError } from '../src/errors.js';
import { serverStatus, startServer, stopServer } from '../infra/devServer.js';
import { lcrecHome } from '../infra/paths.js';
import { connectWorker, createWorkers, runWorkersUntil } from '../infra/worker.js';
import { join } from 'node:path';
import { runBaselines } from '../src/baselines/runBaselines.js';
import { renderDatasetEntry, renderDatasetList } from './datasetsCommand.js';
import { formatStats, ingestCommand } from './ingestCommand.js';
import { renderBaselineReport } from './render.js';
import { runPipeline, startOrAttach } from './runCommand.js';
import { listRuns, showStatus } from './statusCommand.js';
import { openSession, store } from './temporal.js';
import { STAGE_NAMES, type PipelineInput, type RerunRequest, type StageName } from '../src/pipeline/contracts.js';
import { cancelRun } from './cancelCommand.js';
import { registerReportCommand } from './reportCommand.js';
import { recommendCommand, type RecommendFlags } from './recommendCommand.js';
import { loadFinetunedModel } from '../src/finetune/finetunedModel.js';
import { changeSchedule, createSchedule, describeSchedule, listSchedules, SCHEDULE_PREFIX, scheduleSpecOf } from './scheduleCommand.js';
import { parseDuration } from '../src/store/names.js';

interface ConfigFlags {
  preset?: string;
  config?: string[];
  set?: string[];
  dataset?: string;
  format?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function withConfigOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--preset <name>', 'config preset').choices(PRESET_NAMES).default('tiny'))
    .option('-c, --config <file>', 'YAML or JSON config file (repeatable, applied in order)', collect)
    .option('--set <key=value>', 'override one config key, e.g. ingest.kCore=10 (repeatable)', collect);
}

function sourcesOf(flags: ConfigFlags): ConfigSources {
  const sets = [...(flags.set ?? [])];
  if (flags.dataset) sets.unshift(`dataset.source=${JSON.stringify(flags.dataset)}`);
  if (flags.format) sets.unshift(`dataset.format=${flags.format}`);
  return { preset: flags.preset, files: flags.config, sets };
}

async function configOf(flags: ConfigFlags): Promise<PipelineConfig> {
  return validateLayers(await collectLayers(sourcesOf(flags)));
}

interface RerunFlags {
  from?: StageName;
  force?: StageName[];
}
const fromOption = () => new Option('--from <stage>', 'run this stage and every stage after it again, even if published').choices([...STAGE_NAMES]);
const forceOption = () =>
  new Option('--force <stage>', 'run this stage again even if published (repeatable)').choices([...STAGE_NAMES]).argParser((v: string, prev: string[] = []) => {
    if (!(STAGE_NAMES as readonly string[]).includes(v)) throw new BadInputError(`--force: unknown stage ${v} (stages: ${STAGE_NAMES.join(', ')})`);
    return [...prev, v];
  });
function rerunOf(flags: RerunFlags): RerunRequest | undefined {
  if (!flags.from && !flags.force?.length) return undefined;
  return { ...(flags.from ? { from: flags.from } : {}), ...(flags.force?.length ? { force: flags.force } : {}) };
}

const artifactsOption = () =>
  new Option('--artifacts <root>', 'artifact root: a directory or s3://bucket/prefix (default: LCREC_ARTIFACTS, else $LCREC_HOME/artifacts)');

const program = new Command('lcrec')
  .description('LC-Rec generative recommender pipelines on Temporal')
  .showHelpAfterError()
  // --artifacts stands for LCREC_ARTIFACTS: the store and any in-process worker read it from there.
  .hook('preAction', (_program, action) => {
    const root = action.opts().artifacts as unknown;
    if (typeof root === 'string') process.env.LCREC_ARTIFACTS = root;
  });

withConfigOptions(
  program
    .command('run')
    .description('run the pipeline (every stage built so far); finished stages are reused')
    .option('--dataset <source>', 'dataset path (file or directory), or "sample"')
    .addOption(new Option('--format <name>', 'dataset format').choices([...DATASET_FORMATS]))
    .option('--keep-server', 'leave the local Temporal dev server running afterwards')
    .option('--detach', 'with TEMPORAL_ADDRESS: return once the run is started')
    .addOption(fromOption())
    .addOption(forceOption())
    .addOption(artifactsOption()),
).action(async (flags: ConfigFlags & RerunFlags & { keepServer?: boolean; detach?: boolean }) => {
  // The in-process worker writes to the store: a wrong root or credentials fail here, once.
  if (!process.env.TEMPORAL_ADDRESS) await store().check();
  const status = await runPipeline(await configOf(flags), { keepServer: flags.keepServer, detach: flags.detach, rerun: rerunOf(flags) });
  if (status && status.state !== 'completed') process.exitCode = 1;
});

program
  .command('status [workflowId]')
  .description('per-stage state of a run (default: the latest); live from Temporal, else from its run manifest')
  .addOption(artifactsOption())
  .action(async (workflowId?: string) => {
    await showStatus(workflowId);
  });

program
  .command('resume <workflowId>')
  .description('run a failed, cancelled or interrupted run again: finished stages are reused, an interrupted training continues from its checkpoint')
  .option('--keep-server', 'leave the local Temporal dev server running afterwards')
  .addOption(fromOption())
  .addOption(forceOption())
  .addOption(artifactsOption())
  .action(async (workflowId: string, flags: RerunFlags & { keepServer?: boolean }) => {
    const manifest = await store().getRunManifest(workflowId);
    if (!manifest) throw new BadInputError(`no run manifest for ${workflowId} in ${store().location}`);
    const rerun = rerunOf(flags);
    const input: PipelineInput = { config: manifest.config as PipelineConfig, codeVersion: String(manifest.codeVersion), ...(rerun ? { rerun } : {}) };
    const status = await startOrAttach(input, workflowId, { keepServer: flags.keepServer });
    if (status && status.state !== 'completed') process.exitCode = 1;
  });

program
  .command('cancel <workflowId>')
  .description('stop a running run: stages stop at a safe point and publish nothing half-written; `lcrec resume` continues it')
  .option('--wait <duration>', 'how long to wait for the run to stop', '2m')
  .addOption(artifactsOption())
  .action(async (workflowId: string, flags: { wait: string }) => {
    await cancelRun(workflowId, { waitMs: parseDuration(flags.wait) });
  });

const schedule = program.command('schedule').description('retrain per split on a timer (Temporal Schedules; needs a running server and worker)');
withConfigOptions(
  schedule
    .command('create')
    .description('schedule the pipeline for one dataset + config; each firing re-ingests the source, unchanged stages are reused')
    .option('--dataset <source>', 'dataset path (file or directory), or "sample"')
    .addOption(new Option('--format <name>', 'dataset format').choices([...DATASET_FORMATS]))
    .option('--every <duration>', 'interval, e.g. 7d, 12h')
    .option('--cron <expression>', 'cron expression, e.g. "0 3 * * 1"')
    .option('--id <scheduleId>', `schedule id (default ${SCHEDULE_PREFIX}<config name>)`)
    .option('--paused', 'create it paused'),
).action(async (flags: ConfigFlags & { every?: string; cron?: string; id?: string; paused?: boolean }) => {
  const spec = scheduleSpecOf(flags);
  const id = await createSchedule(await configOf(flags), spec, { id: flags.id, paused: flags.paused });
  process.stdout.write(`created schedule ${id}\n`);
});
schedule
  .command('list')
  .description('the lcrec schedules on the server')
  .action(async () => {
    await listSchedules();
  });
schedule
  .command('describe <scheduleId>')
  .description('spec, state, recent and next runs')
  .action(async (id: string) => {
    await describeSchedule(id);
  });
for (const [verb, text] of [
  ['pause', 'stop firing until unpaused'],
  ['unpause', 'resume firing'],
  ['trigger', 'start a run now (skipped if one is going)'],
  ['delete', 'remove the schedule (runs and artifacts stay)'],
] as const) {
  schedule
    .command(`${verb} <scheduleId>`)
    .description(text)
    .action(async (id: string) => {
      await changeSchedule(id, verb);
      process.stdout.write(`${verb}: ${id}\n`);
    });
}

program
  .command('runs')
  .description('runs recorded in the artifact store')
  .command('list')
  .description('one line per run, oldest first')
  .addOption(artifactsOption())
  .action(async () => {
    await listRuns();
  });

program
  .command('worker')
  .description('poll task queues and run stages (with TEMPORAL_ADDRESS: as part of a cluster)')
  .addOption(new Option('--queue <queue>', 'which queue to poll').choices(['cpu', 'gpu', 'all']).default('all'))
  .addOption(artifactsOption())
  .action(async (flags: { queue: 'cpu' | 'gpu' | 'all' }) => {
    await store().check();
    const session = await openSession({ keepServer: true });
    if (!session) throw new Error('no Temporal server');
    const connection = await connectWorker(session.address);
    const queues = flags.queue === 'all' ? (['cpu', 'gpu'] as const) : ([flags.queue] as const);
    const workers = await createWorkers({ connection, namespace: session.namespace, queues: [...queues], deps: { store: store(), home: lcrecHome() } });
    const stop = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    process.stderr.write(`lcrec worker: polling ${queues.join(', ')} on ${session.address} (Ctrl-C stops)\n`);
    await runWorkersUntil(workers, stop);
    await connection.close();
    await session.close();
  });

program
  .command('store')
  .description('the artifact store')
  .command('sweep')
  .description('list and remove orphaned attempt prefixes: attempts that no manifest references (failed, or lost a race)')
  .option('--older-than <duration>', 'only attempts whose newest file is older than this (e.g. 90m, 24h, 7d)', '24h')
  .option('--dry-run', 'list them, remove nothing')
  .addOption(artifactsOption())
  .action(async (flags: { olderThan: string; dryRun?: boolean }) => {
    const report = await store().sweep({ olderThanMs: parseDuration(flags.olderThan), dryRun: flags.dryRun });
    const verb = report.removed ? 'removed' : 'would remove';
    for (const o of report.orphans) {
      process.stdout.write(`${verb}  ${o.stage}/${o.key}/attempts/${o.attempt}  ${o.files} files  ${o.bytes} bytes  last written ${o.lastModified}\n`);
    }
    const bytes = report.orphans.reduce((sum, o) => sum + o.bytes, 0);
    process.stdout.write(
      `${report.orphans.length} orphaned attempts (${bytes} bytes), ${report.incompleteUploads} unfinished uploads older than ${flags.olderThan} in ${store().location}` +
        `${report.removed ? '' : ' (dry run: nothing removed)'}\n`,
    );
  });

const server = program.command('server').description('the local Temporal dev server (SQLite under LCREC_HOME)');
server
  .command('start')
  .description('start it in the background (no-op when running)')
  .option('--port <port>', 'gRPC port (default LCREC_TEMPORAL_PORT, else 7233 if free, else any free port)', (v) => Number(v))
  .action(async (flags: { port?: number }) => {
    const state = await startServer(lcrecHome(), { port: flags.port });
    process.stdout.write(`Temporal dev server running at ${state.address} (pid ${state.pid}, db ${state.dbFile})\n`);
  });
server
  .command('stop')
  .description('stop it')
  .action(async () => {
    process.stdout.write((await stopServer(lcrecHome())) ? 'stopped\n' : 'not running\n');
  });
server
  .command('status')
  .description('is it running, and where')
  .action(async () => {
    const state = await serverStatus(lcrecHome());
    process.stdout.write(state ? `running at ${state.address} (pid ${state.pid}, db ${state.dbFile})\n` : 'not running\n');
  });

withConfigOptions(
  program
    .command('config')
    .description('pipeline configuration')
    .command('show')
    .description('the config layers as given, or with --resolved the validated result')
    .option('--resolved', 'print the complete validated config'),
).action(async (flags: ConfigFlags & { resolved?: boolean }) => {
  const layers = await collectLayers(sourcesOf(flags));
  const shown = flags.resolved ? validateLayers(layers) : { preset: layers.preset, layers: layers.layers };
  process.stdout.write(toYaml(shown));
});

withConfigOptions(
  program
    .command('ingest <source>')
    .description('read a dataset (a path, http(s) URLs, or a registry name such as amazon2018:gift_cards) and write interactions/items/sequences Parquet files and stats.json (no Temporal)')
    .addOption(new Option('--format <name>', 'dataset format (default: detected from the files)').choices([...DATASET_FORMATS]))
    .requiredOption('--out <dir>', 'output directory'),
).action(async (source: string, flags: ConfigFlags & { out: string; format?: string }) => {
  const config = await configOf({ ...flags, format: undefined });
  const stats = await ingestCommand(source, flags.format, flags.out, config);
  process.stdout.write(`${formatStats(stats)}\nwrote ${flags.out}/{interactions,items,sequences}.parquet and stats.json\n`);
});

withConfigOptions(
  program
    .command('baselines <source>')
    .description('ingest a dataset and evaluate the baselines on it (no Temporal): metrics.json, predictions.parquet')
    .addOption(new Option('--format <name>', 'dataset format (default: detected from the files)').choices([...DATASET_FORMATS]))
    .requiredOption('--out <dir>', 'output directory (the ingested tables go to <dir>/data)'),
).action(async (source: string, flags: ConfigFlags & { out: string; format?: string }) => {
  const config = await configOf({ ...flags, format: undefined });
  const data = join(flags.out, 'data');
  process.stdout.write(`${formatStats(await ingestCommand(source, flags.format, data, config))}\n`);
  const report = await runBaselines(data, flags.out, config.baselines, { seed: config.seed, log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${renderBaselineReport(report)}\nwrote ${flags.out}/metrics.json and predictions.parquet\n`);
});

registerReportCommand(program, artifactsOption);

const datasets = program.command('datasets').description('the registry of Amazon review releases that `lcrec ingest <name>` downloads');
datasets
  .command('list')
  .description('every registry name with its format and file URLs, marked when not verified from this machine')
  .option('--release <release>', 'only amazon2014, amazon2018 or amazon2023')
  .action((flags: { release?: string }) => {
    process.stdout.write(renderDatasetList(flags.release));
  });
datasets
  .command('show <name>')
  .description('one registry entry in full (e.g. amazon2018:gift_cards), and whether its files are downloaded')
  .action((name: string) => {
    process.stdout.write(renderDatasetEntry(name, lcrecHome()));
  });

program
  .command('recommend')
  .description("top-K items for a history, by the run's fine-tuned model and trie-constrained beam search")
  .requiredOption('--run <workflowId>', 'a run whose evaluate stage has finished')
  .option('--history <ids>', 'comma-separated item ids (ASINs), oldest first')
  .option('--users-file <file>', 'batch input: one `user<TAB>id,id,...` line per user')
  .option('--out <file>', 'Parquet output for --users-file')
  .option('--top <K>', 'items to return', '10')
  .option('--beam <width>', "beam width (default: the run's evaluate.beamWidth)")
  .option('--template <id>', "seqrec template (default: the run's evaluate.template)")
  .addOption(artifactsOption())
  .action(async (flags: RecommendFlags) => {
    await recommendCommand(flags, { store: store(), loadModel: loadFinetunedModel, out: process.stdout });
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`lcrec: error: ${err instanceof Error ? err.message : String(err)}\n`);
  if (process.env.LCREC_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exitCode = err instanceof BadInputError ? 2 : 1;
}
