/**
 * The report's charts as Vega-Lite specs (pure functions of the run's numbers), rendered to SVG
 * in Node by Vega's headless renderer, so the HTML needs no script and makes no request.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { TrainingLog } from './llmFiles.js';
import type { RqvaeEvaluationRow } from './stageFiles.js';

type Row = Record<string, string | number>;

/** Integer ticks for counts (epochs, steps). */
const COUNT_AXIS = { format: 'd', tickMinStep: 1 };

const WIDTH = 520;
const PANEL_HEIGHT = 150;
const CONFIG = {
  font: 'Helvetica, Arial, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#e6e6e6' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 13, anchor: 'start' as const },
  view: { stroke: '#ccc' },
};

function top(description: string, body: Record<string, unknown>): TopLevelSpec {
  return { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', description, background: 'white', config: CONFIG, ...body } as TopLevelSpec;
}

/** One metric over x, with points, and a dashed rule at `marker` (e.g. the epoch kept). */
function curvePanel(title: string, rows: Row[], x: { field: string; title: string }, y: { field: string; title: string; format?: string }, marker?: number) {
  const layers: Record<string, unknown>[] = [
    {
      mark: { type: 'line', point: rows.length <= 60 },
      encoding: {
        x: { field: x.field, type: 'quantitative', title: x.title, axis: COUNT_AXIS },
        y: { field: y.field, type: 'quantitative', title: y.title, scale: { zero: false }, ...(y.format ? { axis: { format: y.format } } : {}) },
      },
    },
  ];
  if (marker !== undefined) {
    layers.push({
      data: { values: [{ [x.field]: marker }] },
      mark: { type: 'rule', strokeDash: [4, 3], color: '#d62728' },
      encoding: { x: { field: x.field, type: 'quantitative' } },
    });
  }
  return { title, width: WIDTH, height: PANEL_HEIGHT, data: { values: rows }, layer: layers };
}

/** Users per sequence length (binned): the shape of the data behind every metric. */
export function sequenceLengthChart(counts: { length: number; users: number }[]): TopLevelSpec {
  return top('Histogram of user sequence lengths', {
    title: 'Users by sequence length',
    width: WIDTH,
    height: 180,
    data: { values: counts },
    mark: { type: 'bar', color: '#4c78a8' },
    encoding: {
      x: { field: 'length', type: 'quantitative', bin: { maxbins: 40, minstep: 1 }, title: 'items in the sequence', axis: { format: 'd' } },
      // symlog: the long tail of long sequences stays visible beside the bulk of short ones.
      y: { field: 'users', type: 'quantitative', aggregate: 'sum', title: 'users (symlog scale)', scale: { type: 'symlog' }, axis: { tickCount: 5 } },
    },
  });
}

/** RQ-VAE training: reconstruction loss, collision rate (and training loss when recorded) per evaluation. */
export function rqvaeCurvesChart(evaluations: RqvaeEvaluationRow[], selectedEpoch: number): TopLevelSpec {
  const rows = evaluations.map((e) => ({ epoch: e.epoch, reconLoss: e.reconLoss, collisionRate: e.collisionRate, ...(e.trainLoss !== undefined ? { trainLoss: e.trainLoss } : {}) }));
  const x = { field: 'epoch', title: 'epoch' };
  const panels = [
    ...(evaluations.every((e) => e.trainLoss !== undefined) ? [curvePanel('Training loss', rows, x, { field: 'trainLoss', title: 'loss' }, selectedEpoch)] : []),
    curvePanel('Reconstruction loss (argmin codes, all items)', rows, x, { field: 'reconLoss', title: 'reconstruction loss' }, selectedEpoch),
    curvePanel('Collision rate (items sharing a full code tuple)', rows, x, { field: 'collisionRate', title: 'collision rate', format: '.1%' }, selectedEpoch),
  ];
  return top('RQ-VAE training curves; the dashed line marks the evaluation kept', { vconcat: panels });
}

/** Per-level codebook usage and perplexity over the RQ-VAE evaluations. */
export function levelUsageChart(evaluations: RqvaeEvaluationRow[]): TopLevelSpec {
  const rows = evaluations.flatMap((e) => e.usage.map((usage, level) => ({ epoch: e.epoch, level: `level ${level}`, usage, perplexity: e.perplexity[level] ?? 0 })));
  const panel = (field: string, title: string, yTitle: string, format?: string) => ({
    title,
    width: 250,
    height: PANEL_HEIGHT,
    mark: { type: 'line', point: evaluations.length <= 60 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: COUNT_AXIS },
      y: { field, type: 'quantitative', title: yTitle, ...(format ? { axis: { format } } : {}) },
      color: { field: 'level', type: 'nominal', title: 'level' },
    },
  });
  return top('RQ-VAE codebook usage and perplexity per level over training', {
    data: { values: rows },
    hconcat: [panel('usage', 'Codes used / codebook size', 'share of codes used', '.0%'), panel('perplexity', 'Code perplexity (exp entropy)', 'perplexity')],
  });
}

/** Items per code at each level of the final semantic IDs, codes sorted from most to least used. */
export function codeUsageChart(countsByLevel: number[][]): TopLevelSpec {
  const rows: Row[] = [];
  countsByLevel.forEach((counts, level) => {
    [...counts].sort((a, b) => b - a).forEach((items, rank) => rows.push({ level: `level ${level}`, rank: rank + 1, items }));
  });
  return top('Items per code of the final semantic IDs at each level, codes ranked by use', {
    title: 'Items per code (codes ranked by use)',
    width: WIDTH,
    height: 200,
    data: { values: rows },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 'rank', type: 'quantitative', title: 'code rank at its level' },
      // symlog: a disambiguation level (nearly every item on code 0) would flatten the others on a linear scale.
      y: { field: 'items', type: 'quantitative', title: 'items with this code (symlog scale)', scale: { type: 'symlog' }, axis: { tickCount: 5 } },
      color: { field: 'level', type: 'nominal', title: 'level' },
    },
  });
}

/** SASRec's training: loss and validation Recall@10 per epoch, the kept epoch marked. */
export function sasrecChart(epochs: { epoch: number; loss: number; validRecall10: number }[], bestEpoch: number): TopLevelSpec {
  const rows = epochs.map((e) => ({ epoch: e.epoch, loss: e.loss, validRecall10: e.validRecall10 }));
  const x = { field: 'epoch', title: 'epoch' };
  return top('SASRec baseline training curves; the dashed line marks the epoch kept', {
    hconcat: [
      { ...curvePanel('SASRec training loss', rows, x, { field: 'loss', title: 'cross-entropy' }, bestEpoch), width: 250 },
      { ...curvePanel('SASRec valid Recall@10', rows, x, { field: 'validRecall10', title: 'Recall@10' }, bestEpoch), width: 250 },
    ],
  });
}

/** LLM fine-tuning: training loss per step, validation loss (and Recall@10) per epoch, learning rate; the kept epoch marked. */
export function llmLossChart(log: TrainingLog): TopLevelSpec {
  const kept = log.validation.find((v) => v.epoch === log.bestEpoch)?.step;
  const rule = (field: string) =>
    kept === undefined ? [] : [{ data: { values: [{ [field]: kept }] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#d62728' }, encoding: { x: { field, type: 'quantitative' } } }];
  const lossRows: Row[] = [
    ...log.steps.map((s) => ({ step: s.step, loss: s.loss, series: 'train' })),
    ...log.validation.flatMap((v) => (v.loss === null ? [] : [{ step: v.step, loss: v.loss, series: 'validation' }])),
  ];
  const recallRows = log.validation.flatMap((v) => (v.recallAt10 === null || v.recallAt10 === undefined ? [] : [{ step: v.step, epoch: v.epoch, recall: v.recallAt10 }]));
  const panels: Record<string, unknown>[] = [
    {
      title: 'Loss',
      width: WIDTH,
      height: 200,
      layer: [
        {
          data: { values: lossRows },
          mark: { type: 'line', point: log.steps.length <= 60 ? { size: 25 } : false },
          encoding: {
            x: { field: 'step', type: 'quantitative', title: 'optimiser step', axis: COUNT_AXIS },
            y: { field: 'loss', type: 'quantitative', title: 'cross-entropy (nats/token)', scale: { zero: false } },
            color: { field: 'series', type: 'nominal', title: null, scale: { domain: ['train', 'validation'], range: ['#4c78a8', '#f58518'] } },
          },
        },
        ...rule('step'),
      ],
    },
  ];
  if (recallRows.length > 0) {
    panels.push({
      title: 'Validation Recall@10',
      width: WIDTH,
      height: 120,
      layer: [
        {
          data: { values: recallRows },
          mark: { type: 'line', point: true, color: '#f58518' },
          encoding: { x: { field: 'step', type: 'quantitative', title: 'optimiser step', axis: COUNT_AXIS }, y: { field: 'recall', type: 'quantitative', title: 'Recall@10' } },
        },
        ...rule('step'),
      ],
    });
  }
  panels.push({
    title: 'Learning rate',
    width: WIDTH,
    height: 100,
    data: { values: log.steps.map((s) => ({ step: s.step, lr: s.lr })) },
    mark: { type: 'line', color: '#54a24b' },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'optimiser step', axis: COUNT_AXIS },
      y: { field: 'lr', type: 'quantitative', title: 'learning rate', axis: { format: '.1e' } },
    },
  });
  return top('LLM fine-tuning: loss per optimiser step, validation per epoch, learning rate', { vconcat: panels });
}

/** Recall@10 and NDCG@10 of every model (in the order given), valid and test side by side. */
export function metricsChart(rows: { model: string; split: string; metric: string; value: number }[]): TopLevelSpec {
  return top('Recall@10 and NDCG@10 of every model on the valid and test splits', {
    data: { values: rows },
    facet: { column: { field: 'metric', type: 'nominal', title: null, sort: ['Recall@10', 'NDCG@10'], header: { labelFontSize: 12 } } },
    spec: {
      width: 230,
      height: 180,
      mark: 'bar',
      encoding: {
        x: { field: 'model', type: 'nominal', title: null, sort: [...new Set(rows.map((r) => r.model))], axis: { labelAngle: -30 } },
        xOffset: { field: 'split', type: 'nominal', sort: ['valid', 'test'] },
        y: { field: 'value', type: 'quantitative', title: null },
        color: { field: 'split', type: 'nominal', title: 'split', scale: { domain: ['valid', 'test'], range: ['#9ecae9', '#4c78a8'] } },
      },
    },
    resolve: { scale: { y: 'independent' } },
  });
}

/** Compiles a Vega-Lite spec and renders it to an SVG string (no DOM, no canvas, no network). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { spec: compiled } = vl.compile(spec);
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
