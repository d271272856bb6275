import type { BaselineReport } from '../src/baselines/runBaselines.js';
import type { RunStatus, StageHeartbeat, StageStatus } from '../src/pipeline/contracts.js';

/** The per-stage table `lcrec run` and `lcrec status` print. */
export function renderStatus(status: RunStatus, source: string): string {
  const lines = [`run ${status.workflowId}  ${status.state}  (started ${status.startedAt}${status.finishedAt ? `, finished ${status.finishedAt}` : ''}; from ${source})`];
  const rows = status.stages.map((s) => [
    s.stage,
    s.state,
    s.key ?? '-',
    s.attempt ?? '-',
    s.durationMs !== undefined ? formatDuration(s.durationMs) : '-',
    summaryText(s),
  ]);
  const header = ['stage', 'state', 'key', 'attempt', 'duration', 'summary'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const format = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  lines.push(`  ${format(header)}`);
  for (const row of rows) lines.push(`  ${format(row)}`);
  if (status.error) lines.push(`  error: ${status.error}`);
  return lines.join('\n');
}

function summaryText(stage: StageStatus): string {
  if (stage.error) return stage.error.split('\n')[0]!;
  const parts: string[] = [];
  for (const [key, value] of Object.entries(stage.summary ?? {})) {
    if (key === 'durationMs' || typeof value === 'object') continue;
    if (value === null) continue;
    // Counts read "570 users"; measurements read "reconLoss 0.637".
    if (typeof value === 'number' && !Number.isInteger(value)) parts.push(`${key} ${Number(value.toPrecision(3))}`);
    else parts.push(`${typeof value === 'number' ? value.toLocaleString('en-US') : String(value)} ${key}`);
  }
  if (stage.state === 'cached') parts.push('(cached)');
  return parts.join('  ');
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function progressText(stage: string, beat: StageHeartbeat): string {
  const amount =
    beat.total !== undefined && beat.total > 0
      ? `${Math.min(100, (100 * beat.done) / beat.total).toFixed(0)}% (${beat.done.toLocaleString('en-US')}/${beat.total.toLocaleString('en-US')})`
      : beat.done.toLocaleString('en-US');
  return `${stage}: ${beat.phase} ${amount}`;
}

type MetricTable = Record<string, Record<string, Record<string, number>>>;

/** The metrics table of a baselines report (metrics.json). */
export function renderBaselineReport(report: BaselineReport): string {
  const table: MetricTable = {};
  for (const [split, models] of Object.entries(report.splits)) {
    for (const [model, metrics] of Object.entries(models)) (table[model] ??= {})[split] = metrics as unknown as Record<string, number>;
  }
  return renderMetricTable(Object.entries(table));
}

/**
 * Every model's metrics side by side (baselines and, once evaluated, the LLM), valid and test:
 * the comparison a result is judged by.
 */
export function renderMetrics(status: RunStatus): string {
  const rows: [string, Record<string, Record<string, number>>][] = [];
  for (const stage of status.stages) {
    const metrics = stage.summary?.metrics as MetricTable | undefined;
    if (metrics) rows.push(...Object.entries(metrics));
  }
  return rows.length === 0 ? '' : renderMetricTable(rows);
}

function renderMetricTable(rows: [string, Record<string, Record<string, number>>][]): string {
  const splits = ['valid', 'test'];
  const names = ['recall@5', 'recall@10', 'ndcg@5', 'ndcg@10'];
  const width = Math.max(5, ...rows.map(([model]) => model.length));
  const header = splits.map((s) => names.map((n) => `${s} ${n.replace('recall', 'R').replace('ndcg', 'N')}`.padStart(12)).join('')).join('');
  const lines = ['results (leave-one-out, full ranking over all items):', `  ${'model'.padEnd(width)}${header}`];
  for (const [model, bySplit] of rows) {
    const cells = splits.flatMap((s) => names.map((n) => (bySplit[s]?.[n] !== undefined ? bySplit[s][n]!.toFixed(4) : '-').padStart(12)));
    lines.push(`  ${model.padEnd(width)}${cells.join('')}`);
  }
  return lines.join('\n');
}
