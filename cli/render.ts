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
    parts.push(`${typeof value === 'number' ? value.toLocaleString('en-US') : String(value)} ${key}`);
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
