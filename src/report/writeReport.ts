/**
 * `lcrec report RUN`: collects a run's artifacts, renders the charts to SVG and writes one
 * self-contained HTML file. The file appears complete or not at all (temp file, then rename).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { ArtifactStore } from '../store/artifactStore.js';
import { codeUsageChart, levelUsageChart, llmLossChart, metricsChart, renderSvg, rqvaeCurvesChart, sasrecChart, sequenceLengthChart } from './charts.js';
import { collectReportData, type ReportData } from './collect.js';
import { renderReportHtml, resultRows, type ChartName, type ChartSvgs } from './html.js';

/** The Vega-Lite spec of every chart the data allows. */
export function reportChartSpecs(data: ReportData): Partial<Record<ChartName, TopLevelSpec>> {
  const specs: Partial<Record<ChartName, TopLevelSpec>> = {};
  const metricRows = resultRows(data).flatMap((r) =>
    (['valid', 'test'] as const).flatMap((split) =>
      (['recall@10', 'ndcg@10'] as const).flatMap((metric) => {
        const value = r.splits[split]?.[metric];
        return value === undefined ? [] : [{ model: r.model, split, metric: metric === 'recall@10' ? 'Recall@10' : 'NDCG@10', value }];
      }),
    ),
  );
  if (metricRows.length > 0) specs.metrics = metricsChart(metricRows);
  if (data.dataset && data.dataset.lengthCounts.length > 0) specs.sequenceLengths = sequenceLengthChart(data.dataset.lengthCounts);
  if (data.rqvae) {
    specs.rqvaeCurves = rqvaeCurvesChart(data.rqvae.evaluations, data.rqvae.selected.epoch);
    specs.levelUsage = levelUsageChart(data.rqvae.evaluations);
  }
  if (data.semid) specs.codeUsage = codeUsageChart(data.semid.countsByLevel);
  if (data.baselines?.sasrec && data.baselines.sasrec.epochs.length > 0) specs.sasrec = sasrecChart(data.baselines.sasrec.epochs, data.baselines.sasrec.bestEpoch);
  if (data.finetune && data.finetune.steps.length > 0) specs.llmLoss = llmLossChart(data.finetune);
  return specs;
}

/** The report page for already collected data. */
export async function buildReportHtml(data: ReportData, generatedAt: Date = new Date()): Promise<string> {
  const charts: ChartSvgs = {};
  for (const [name, spec] of Object.entries(reportChartSpecs(data)) as [ChartName, TopLevelSpec][]) charts[name] = await renderSvg(spec);
  return renderReportHtml(data, charts, generatedAt.toISOString());
}

export interface WrittenReport {
  file: string;
  bytes: number;
  data: ReportData;
}

/** Writes the report of run `workflowId` to `outFile`. */
export async function writeRunReport(store: ArtifactStore, workflowId: string, outFile: string): Promise<WrittenReport> {
  const data = await collectReportData(store, workflowId);
  const html = await buildReportHtml(data);
  const file = resolve(outFile);
  await mkdir(dirname(file), { recursive: true });
  const scratch = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(scratch, html);
    await rename(scratch, file);
  } catch (err) {
    await rm(scratch, { force: true });
    throw err;
  }
  return { file, bytes: Buffer.byteLength(html), data };
}
