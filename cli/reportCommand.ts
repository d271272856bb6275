import { join } from 'node:path';
import type { Command, Option } from 'commander';
import { writeRunReport } from '../src/report/writeReport.js';
import type { ArtifactStore } from '../src/store/artifactStore.js';
import { store as defaultStore } from './temporal.js';

/** Where the report goes without --out: the current directory, named after the run. */
export function defaultReportPath(workflowId: string, cwd: string = process.cwd()): string {
  return join(cwd, `${workflowId}.report.html`);
}

/**
 * `lcrec report [workflowId] [--out file.html]`: one self-contained HTML file (metrics beside the
 * baselines and published figures, dataset statistics, RQ-VAE and training curves, collision
 * report, per-stage timings and backend), from the run manifest and artifacts in the store.
 */
export async function reportCommand(
  workflowId: string | undefined,
  flags: { out?: string },
  opts: { store?: ArtifactStore; out?: NodeJS.WritableStream } = {},
): Promise<string> {
  const artifacts = opts.store ?? defaultStore();
  const id = workflowId ?? (await artifacts.listRunManifests()).at(-1)?.workflowId;
  if (!id) throw new Error(`no runs in ${artifacts.location}: start one with \`lcrec run\``);
  const written = await writeRunReport(artifacts, id, flags.out ?? defaultReportPath(id));
  const shown = written.data.notes.length ? ` (${written.data.notes.length} sections not shown: see the report)` : '';
  (opts.out ?? process.stdout).write(`wrote ${written.file} (${(written.bytes / 1024).toFixed(0)} KiB)${shown}\n`);
  return written.file;
}

/**
 * Adds `lcrec report` to the program: in cli/main.ts, `registerReportCommand(program, artifactsOption);`
 * (the --artifacts option sets LCREC_ARTIFACTS through the program's preAction hook).
 */
export function registerReportCommand(program: Command, artifactsOption: () => Option): Command {
  return program
    .command('report [workflowId]')
    .description('write one self-contained HTML report of a run (default: the latest): metrics beside the baselines and published figures, dataset, RQ-VAE and training curves, collisions, stage timings')
    .option('-o, --out <file>', 'the HTML file to write (default: ./<workflowId>.report.html)')
    .addOption(artifactsOption())
    .action(async (workflowId: string | undefined, flags: { out?: string }) => {
      await reportCommand(workflowId, flags);
    });
}
