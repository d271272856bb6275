/**
 * The run report as one self-contained HTML page: inline CSS, charts as inline SVG, no script,
 * and a Content-Security-Policy that forbids every request, so the file reads the same offline,
 * attached to an email or years later. Every string from the run is escaped.
 */
import type { ReportData, StageTiming } from './collect.js';
import type { SplitMetrics } from './llmFiles.js';
import type { ReferenceTable } from './references.js';

export type ChartName = 'metrics' | 'sequenceLengths' | 'rqvaeCurves' | 'levelUsage' | 'codeUsage' | 'sasrec' | 'llmLoss';
export type ChartSvgs = Partial<Record<ChartName, string>>;

const SPLITS = ['valid', 'test'] as const;
/** The metric columns of the results table, in order. */
export const TABLE_METRICS = ['recall@1', 'recall@5', 'recall@10', 'ndcg@5', 'ndcg@10'] as const;
const METRIC_LABEL: Record<(typeof TABLE_METRICS)[number], string> = {
  'recall@1': 'R@1',
  'recall@5': 'R@5',
  'recall@10': 'R@10',
  'ndcg@5': 'N@5',
  'ndcg@10': 'N@10',
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
const esc = escapeHtml;

/** How a metric value appears in the table (and how the test reads it back). */
export function formatMetric(value: number): string {
  return value.toFixed(4);
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 120) return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

const int = (n: number) => n.toLocaleString('en-US');
const pct = (x: number, digits = 2) => `${(x * 100).toFixed(digits)}%`;
const num = (x: number, digits = 4) => Number(x.toPrecision(digits)).toString();

function table(head: string[], rows: string[][], attrs = ''): string {
  return `<table${attrs}><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.join('')}</tr>`)
    .join('')}</tbody></table>`;
}
const td = (text: string, cls = '') => `<td${cls ? ` class="${cls}"` : ''}>${text}</td>`;
const figure = (svg: string | undefined, caption: string) => (svg ? `<figure>${svg}<figcaption>${esc(caption)}</figcaption></figure>` : '');
const facts = (pairs: [string, string][]) => `<dl class="facts">${pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;

interface ResultRow {
  model: string;
  kind: 'model' | 'baseline';
  splits: Partial<Record<(typeof SPLITS)[number], SplitMetrics>>;
}

/** The label of the evaluated LLM in the results table. */
export const MODEL_ROW = 'LC-Rec (this run)';

/** The rows of the results table: the evaluated LLM first (mean over templates), then every baseline. */
export function resultRows(data: ReportData): ResultRow[] {
  const rows: ResultRow[] = [];
  const ev = data.evaluation;
  if (ev) rows.push({ model: MODEL_ROW, kind: 'model', splits: { valid: ev.splits.valid?.mean, test: ev.splits.test?.mean } });
  if (data.baselines) {
    const models = new Set([...Object.keys(data.baselines.splits.valid), ...Object.keys(data.baselines.splits.test)]);
    for (const model of models) rows.push({ model, kind: 'baseline', splits: { valid: data.baselines.splits.valid[model], test: data.baselines.splits.test[model] } });
  }
  return rows;
}

function resultsSection(data: ReportData, charts: ChartSvgs): string {
  const parts = ['<section id="results"><h2>Results</h2>'];
  const rows = resultRows(data);
  if (rows.length > 0) parts.push(metricsTable(rows));
  else parts.push('<p class="empty">No metrics: neither the baselines nor the evaluate stage finished in this run.</p>');
  if (data.baselines) parts.push(`<p class="note">Baselines: ${esc(data.baselines.protocol)}.</p>`);
  const ev = data.evaluation;
  if (ev) {
    const templates = ev.templates.length === 1 ? `seqrec template ${ev.templates[0]}` : `mean over ${ev.templates.length} seqrec templates (${ev.templates.join(', ')})`;
    parts.push(
      `<p class="note">${esc(MODEL_ROW)}: ${esc(ev.protocol)}; beam width ${int(ev.beamWidth)}, ${esc(templates)}${data.evaluatedModel ? `; model ${esc(data.evaluatedModel)}` : ''}. ` +
        `Prediction score: ${esc(ev.score)}.</p>`,
    );
    if (ev.templates.length > 1) parts.push(perTemplateTable(data));
  } else if (rows.length > 0) parts.push('<p class="note">The LLM is not evaluated in this run (no evaluate stage): baselines only.</p>');
  if (data.reference) parts.push(referenceSection(data.reference, data));
  parts.push(figure(charts.metrics, 'Recall@10 and NDCG@10 by model, valid (light) and test (dark).'));
  parts.push('</section>');
  return parts.join('');
}

/** Every model's valid and test metrics; the best value of each column in bold. */
function metricsTable(rows: ResultRow[]): string {
  const best = new Map<string, number>();
  for (const r of rows) for (const s of SPLITS) for (const m of TABLE_METRICS) {
    const v = r.splits[s]?.[m];
    if (v !== undefined) best.set(`${s}/${m}`, Math.max(best.get(`${s}/${m}`) ?? -1, v));
  }
  const head = ['model', ...SPLITS.flatMap((s) => TABLE_METRICS.map((m) => `${s} ${METRIC_LABEL[m]}`)), 'users (valid / test)'];
  const body = rows.map((r) => [
    `<th scope="row">${esc(r.model)}${r.kind === 'model' ? ' <span class="tag">LLM</span>' : ''}</th>`,
    ...SPLITS.flatMap((s) =>
      TABLE_METRICS.map((m) => {
        const v = r.splits[s]?.[m];
        if (v === undefined) return td('-', 'num');
        const text = best.get(`${s}/${m}`) === v ? `<strong>${formatMetric(v)}</strong>` : formatMetric(v);
        return `<td class="num" data-model="${esc(r.model)}" data-split="${s}" data-metric="${m}">${text}</td>`;
      }),
    ),
    td(`${r.splits.valid ? int(r.splits.valid.users) : '-'} / ${r.splits.test ? int(r.splits.test.users) : '-'}`, 'num'),
  ]);
  return (
    table(head, body, ' id="metrics-table" class="metrics"') +
    '<p class="note">Leave-one-out, full ranking over all items, one target per user: Recall@K = 1[rank &lt; K], NDCG@K = 1/log2(rank + 2) when rank &lt; K, averaged over users. ' +
      'Best value of each column in bold.</p>'
  );
}

function perTemplateTable(data: ReportData): string {
  const ev = data.evaluation!;
  const head = ['template', ...SPLITS.flatMap((s) => TABLE_METRICS.map((m) => `${s} ${METRIC_LABEL[m]}`))];
  const cells = (pick: (s: (typeof SPLITS)[number]) => SplitMetrics | undefined) =>
    SPLITS.flatMap((s) => TABLE_METRICS.map((m) => td(pick(s)?.[m] !== undefined ? formatMetric(pick(s)![m]) : '-', 'num')));
  const body = [
    ...ev.templates.map((t) => [`<th scope="row">${esc(t)}</th>`, ...cells((s) => ev.splits[s]?.templates[String(t)])]),
    ...(['mean', 'min', 'max'] as const).map((k) => [`<th scope="row">${k}</th>`, ...cells((s) => ev.splits[s]?.[k])]),
  ];
  return `<h3>${esc(MODEL_ROW)} per seqrec template</h3><p class="note">The results table shows the mean over these ${int(ev.templates.length)} templates (LC-Rec's protocol).</p>${table(head, body, ' id="template-table" class="metrics"')}`;
}

function referenceSection(ref: ReferenceTable, data: ReportData): string {
  const stats = data.dataset?.stats;
  const sameSize = stats && stats.users === ref.users && stats.items === ref.items;
  const size = `${int(ref.users)} users / ${int(ref.items)} items${ref.sizeVerified ? '' : ' (commonly cited, not verified)'}`;
  const sizeNote = !stats
    ? ''
    : sameSize
      ? ` This run's dataset has the same size (${size}).`
      : ` <strong>This run's dataset differs in size</strong> (${int(stats.users)} users / ${int(stats.items)} items vs ${size}): not directly comparable.`;
  const head = ['model (published)', 'split', 'R@5', 'R@10', 'N@5', 'N@10'];
  const body = ref.rows.map((r) => [
    `<th scope="row">${esc(r.model)}</th>`,
    td(r.split === 'valid' ? 'valid (most likely)' : 'test'),
    ...(['recall@5', 'recall@10', 'ndcg@5', 'ndcg@10'] as const).map((m) => td(formatMetric(r[m]), 'num')),
  ]);
  return (
    `<h3>Published reference: ${esc(ref.title)}</h3>` +
    `<p class="note">Figures from ${esc(ref.source)}, printed here, not computed by this run. ` +
    `genrec's LC-Rec trainer evaluates only the validation split, so its LCRec row is a validation-split figure: compare it with the valid columns above. ` +
    `genrec's SASRec, HSTU and TIGER trainers evaluate on test.${sizeNote}</p>` +
    table(head, body, ' id="reference-table" class="metrics reference"')
  );
}

function datasetSection(data: ReportData, charts: ChartSvgs): string {
  if (!data.dataset) return '';
  const s = data.dataset.stats;
  const pairs: [string, string][] = [
    ['users', int(s.users)],
    ['items', int(s.items)],
    ['interactions', int(s.interactions)],
  ];
  if (s.avgSequenceLength !== undefined) pairs.push(['sequence length', `avg ${num(s.avgSequenceLength)}, min ${s.minSequenceLength ?? '-'}, max ${s.maxSequenceLength ?? '-'}`]);
  if (s.density !== undefined) pairs.push(['density', pct(s.density, 3)]);
  pairs.push(['k-core', s.kCore === null || s.kCore === undefined ? 'off' : `${s.kCore}${s.kCoreRounds !== undefined ? ` (${s.kCoreRounds} rounds)` : ''}`]);
  if (s.format) pairs.push(['format', esc(s.format)]);
  if (s.source) pairs.push(['source', esc(Object.entries(s.source).map(([k, v]) => `${int(v)} ${k}`).join(', '))]);
  if (s.dropped) pairs.push(['dropped', esc(Object.entries(s.dropped).map(([k, v]) => `${int(v)} ${k}`).join(', '))]);
  if (s.tieBreak) pairs.push(['tie-break', esc(s.tieBreak)]);
  return `<section id="dataset"><h2>Dataset</h2>${facts(pairs)}${figure(charts.sequenceLengths, 'Users by the length of their full chronological sequence (the last two items are the valid and test targets).')}</section>`;
}

function rqvaeSection(data: ReportData, charts: ChartSvgs): string {
  const r = data.rqvae;
  if (!r) return '';
  const sel = r.selected;
  const pairs: [string, string][] = [
    ['evaluation kept', `epoch ${int(sel.epoch)} (step ${int(sel.step)})`],
    ['reconstruction loss', num(sel.reconLoss)],
    ['collision rate', pct(sel.collisionRate)],
    ['code usage per level', esc(sel.usage.map((u) => pct(u, 1)).join(' / '))],
    ['perplexity per level', esc(sel.perplexity.map((p) => num(p, 3)).join(' / '))],
  ];
  if (r.selectionRule) pairs.push(['selection rule', esc(r.selectionRule)]);
  if (r.steps !== undefined) pairs.push(['optimiser steps', int(r.steps)]);
  if (r.seconds !== undefined) pairs.push(['training time', formatDuration(r.seconds * 1000)]);
  if (r.resumedFromStep !== null && r.resumedFromStep !== undefined) pairs.push(['resumed from step', int(r.resumedFromStep)]);
  const lossNote = r.evaluations.every((e) => e.trainLoss !== undefined) ? '' : ' (training_report.json records no training loss, so only the evaluations are plotted)';
  return (
    `<section id="rqvae"><h2>RQ-VAE</h2>${facts(pairs)}` +
    figure(charts.rqvaeCurves, `Evaluations every few epochs on all items${lossNote}; the dashed line marks the evaluation kept.`) +
    figure(charts.levelUsage, 'Share of each level\'s codebook in use, and the perplexity of its code distribution, per evaluation.') +
    '</section>'
  );
}

function semidSection(data: ReportData, charts: ChartSvgs): string {
  const s = data.semid;
  if (!s) return '';
  const r = s.report;
  const phases = [
    ['argmin codes', r.before],
    ['after Sinkhorn repair', r.afterSinkhorn],
    ['final IDs', r.final],
  ] as const;
  const collisions = table(
    ['', 'collision rate', 'distinct IDs', 'colliding items', 'groups', 'largest group'],
    phases.map(([label, c]) => [
      `<th scope="row">${label}</th>`,
      td(pct(c.collisionRate), 'num'),
      td(int(c.distinctIds), 'num'),
      td(int(c.collidingItems), 'num'),
      td(int(c.groups), 'num'),
      td(int(c.largestGroup), 'num'),
    ]),
    ' id="collision-table"',
  );
  const usage = table(
    ['level', 'codebook', 'codes used', 'usage', 'perplexity'],
    r.levelUsage.map((u) => [td(int(u.level)), td(int(u.size), 'num'), td(int(u.used), 'num'), td(pct(u.size ? u.used / u.size : 0, 1), 'num'), td(num(u.perplexity, 4), 'num')]),
  );
  const strategy = typeof r.settings?.strategy === 'string' ? r.settings.strategy : undefined;
  const pairs: [string, string][] = [
    ['items', int(r.items)],
    ['levels', `${int(r.levels)} (RQ-VAE ${int(r.rqLevels)}${r.extraLevel.added ? ' + 1 disambiguation level' : ''}), codebooks ${esc(r.codebookSizes.join(' x '))}`],
    ['repair', `${strategy ? `${esc(strategy)}, ` : ''}${int(r.sinkhornRounds)} Sinkhorn rounds, stopped: ${esc(r.stoppedBecause)}, ${int(r.itemsReassigned)} items re-assigned`],
    ['extra level', r.extraLevel.added ? `${int(r.extraLevel.items)} items in ${int(r.extraLevel.groups)} groups (size ${int(r.extraLevel.size)})` : 'not needed'],
  ];
  return (
    `<section id="semid"><h2>Semantic IDs and collisions</h2>${facts(pairs)}${collisions}<h3>Code usage per level</h3>${usage}` +
    figure(charts.codeUsage, 'Items per code at each level of the final IDs, codes sorted from most to least used; a flat line is an even spread.') +
    '</section>'
  );
}

function trainingSection(data: ReportData, charts: ChartSvgs): string {
  const parts: string[] = [];
  const log = data.finetune;
  if (log) {
    const last = log.steps.at(-1);
    const kept = log.validation.find((v) => v.epoch === log.bestEpoch);
    const pairs: [string, string][] = [
      ['mode', esc(log.mode ?? '-')],
      ['optimiser steps', `${int(log.steps.length)}${log.stepsPerEpoch ? ` (${int(log.stepsPerEpoch)} per epoch)` : ''}`],
      ['last training loss', last ? `${num(last.loss)} at step ${int(last.step)} (epoch ${num(last.epoch, 3)})` : '-'],
      [
        'epoch kept',
        log.bestEpoch === null || log.bestEpoch === undefined
          ? '-'
          : `${int(log.bestEpoch)}${log.selectBy ? ` (by ${esc(log.selectBy)})` : ''}${kept?.loss !== null && kept?.loss !== undefined ? `, validation loss ${num(kept.loss)}` : ''}${
              kept?.recallAt10 !== null && kept?.recallAt10 !== undefined ? `, validation Recall@10 ${formatMetric(kept.recallAt10)}` : ''
            }`,
      ],
    ];
    if (log.resumedFromStep !== null && log.resumedFromStep !== undefined) pairs.push(['resumed from step', int(log.resumedFromStep)]);
    parts.push(`<h3>LLM fine-tuning</h3>${facts(pairs)}${figure(charts.llmLoss, 'Training loss per optimiser step, validation loss (and Recall@10 when searched) per epoch, learning rate; the dashed line marks the epoch kept.')}`);
  }
  const sasrec = data.baselines?.sasrec;
  if (sasrec) {
    parts.push(
      `<h3>SASRec baseline</h3>${facts([
        ['epochs run', int(sasrec.epochs.length)],
        ['epoch kept', int(sasrec.bestEpoch)],
        ['training time', formatDuration(sasrec.trainSeconds * 1000)],
        ['backend', esc(sasrec.backend)],
      ])}${figure(charts.sasrec, 'SASRec training loss and validation Recall@10 per epoch; the dashed line marks the epoch kept.')}`,
    );
  }
  if (parts.length === 0) return '';
  return `<section id="training"><h2>Training curves</h2>${parts.join('')}</section>`;
}

function stagesSection(stages: StageTiming[]): string {
  const body = stages.map((s) => [
    `<th scope="row">${esc(s.stage)}</th>`,
    td(esc(s.state), `state-${esc(s.state)}`),
    td(formatDuration(s.runMs), 'num'),
    td(formatDuration(s.producedMs), 'num'),
    td(esc(s.backend)),
    td(s.key ? `<code>${esc(s.key)}</code>` : '-'),
    td(esc(s.error ? s.error.split('\n')[0]! : s.summary.join(', '))),
  ]);
  return (
    '<section id="stages"><h2>Stages: timings and backend</h2>' +
    table(['stage', 'state', 'this run', 'artifact produced in', 'tensor backend', 'key', 'summary'], body, ' id="stages-table"') +
    '<p class="note">"this run": wall time of the stage in this run (for a reused stage, the cache lookup); "artifact produced in": the attempt that published the artifact.</p></section>'
  );
}

function headerSection(data: ReportData, generatedAt: string): string {
  const r = data.run;
  const total = r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : undefined;
  const pairs: [string, string][] = [
    ['state', `<span class="state-${esc(r.state)}">${esc(r.state)}</span>${r.error ? `: ${esc(r.error.split('\n')[0])}` : ''}`],
    ['run name', esc(r.name)],
    ['dataset', `${esc(r.datasetSource)} (${esc(r.datasetFormat)})`],
    ['started', esc(r.startedAt)],
    ['finished', r.finishedAt ? `${esc(r.finishedAt)} (${formatDuration(total)})` : '-'],
    ['run id', `<code>${esc(r.runId)}</code>`],
  ];
  if (r.seed !== undefined) pairs.push(['seed', esc(r.seed)]);
  pairs.push(['code', `${esc(r.packageVersion ?? '-')}${r.gitCommit ? `, commit <code>${esc(r.gitCommit.slice(0, 12))}</code>` : ''}`]);
  pairs.push(['machine', `${esc(r.node ?? '-')} on ${esc(r.platform ?? '-')}, tensor backend ${esc(r.tensorBackend ?? 'none selected')}`]);
  if (r.artifactStore) pairs.push(['artifacts', `<code>${esc(r.artifactStore)}</code>`]);
  pairs.push(['report written', esc(generatedAt)]);
  return `<header><h1>lcrec run report <code>${esc(r.workflowId)}</code></h1>${facts(pairs)}</header>`;
}

const STYLE = `
body{font:14px/1.45 Helvetica,Arial,sans-serif;color:#222;margin:0 auto;max-width:1180px;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 12px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}h3{font-size:15px;margin-top:20px}
code{font:12px Menlo,Consolas,monospace;background:#f4f4f4;padding:1px 3px;border-radius:3px}
nav a{margin-right:14px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0}
dl.facts dt{color:#666}dl.facts dd{margin:0}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
thead th{background:#f2f4f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.reference td{color:#555}
.tag{font-size:10px;background:#4c78a8;color:#fff;border-radius:3px;padding:0 4px;vertical-align:middle}
.note{color:#555;font-size:12.5px;max-width:900px}.empty{color:#a00}
.notes{background:#fff8e5;border:1px solid #f0d58c;padding:6px 12px;border-radius:4px}
.state-failed{color:#b00020;font-weight:bold}.state-done,.state-completed{color:#1a7f37}.state-cached{color:#555}
figure{margin:12px 0}figcaption{color:#555;font-size:12.5px;max-width:900px}
figure svg{max-width:100%;height:auto}
pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:12px}
`;

/** The whole page. `generatedAt` is passed in so the same data gives the same bytes. */
export function renderReportHtml(data: ReportData, charts: ChartSvgs, generatedAt: string): string {
  const sections = [
    resultsSection(data, charts),
    datasetSection(data, charts),
    rqvaeSection(data, charts),
    semidSection(data, charts),
    trainingSection(data, charts),
    stagesSection(data.stages),
  ];
  const nav = [
    ['results', 'Results'],
    ['dataset', 'Dataset'],
    ['rqvae', 'RQ-VAE'],
    ['semid', 'Semantic IDs'],
    ['training', 'Training curves'],
    ['stages', 'Stages'],
    ['config', 'Configuration'],
  ]
    .filter(([id]) => id === 'config' || sections.some((s) => s.startsWith(`<section id="${id}"`)))
    .map(([id, label]) => `<a href="#${id}">${label}</a>`)
    .join('');
  const notes = data.notes.length ? `<div class="notes"><strong>Not shown:</strong><ul>${data.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul></div>` : '';
  const config = `<section id="config"><h2>Configuration</h2><details><summary>resolved config of the run</summary><pre>${esc(JSON.stringify(data.run.config, null, 2))}</pre></details></section>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lcrec report ${esc(data.run.workflowId)}</title>
<style>${STYLE}</style>
</head>
<body>
${headerSection(data, generatedAt)}
<nav>${nav}</nav>
${notes}
${sections.join('\n')}
${config}
</body>
</html>
`;
}
