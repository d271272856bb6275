/**
 * RQ-VAE training step speed: ms per step at batch 1024 with genrec's default widths (768 input,
 * 512-256-128-64, 5 levels x 256 unless --levels says otherwise), counting forward, backward,
 * Sinkhorn on the last level and the AdamW update (the same `trainingStep` trainRqvae runs).
 * Codebooks are k-means initialised first, so the Sinkhorn input looks like training's. Prints ONE JSON line:
 *   ms_per_step       fastest timed step, wall clock (the least disturbed: other processes share the cores)
 *   wall_ms_per_step  mean wall time of the timed steps; median_ms: their median
 *   cpu_ms_per_step   process CPU time (process.cpuUsage) over the timed steps / steps: on the
 *                     single-threaded wasm backend, about what a step takes on an idle core
 *   loadavg           the 1-minute load average before and after the timed steps
 *   without_sinkhorn  the same with argmin on the last level; sinkhorn_ms: the assignment alone
 *   matmul_gflops_now / step_matmul_gflop: how fast plain matMuls run right now, and how much
 *                     matMul work a step holds
 *   matmul_floor_ms   the step's own matMuls (same shapes: forward, dW, dx, code distances) run
 *                     back to back with nothing else: what a step costs before any other work
 *   node --import tsx bench/rqvae.ts [--levels 5] [--cpu] [--steps 8] [--profile]
 * --levels 4 is the cpu-beauty preset (4 x 256); --profile adds the kernel time by kernel name of
 * one step (tf.profile).
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { selectBackend, tf } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/rng.js';
import { sinkhornAssignScaling } from '../src/rqvae/sinkhornScaling.js';
import { AdamW } from '../src/rqvae/adamw.js';
import { initCodebooksByKMeans } from '../src/rqvae/codebookInit.js';
import { lastLevelDistances } from '../src/rqvae/codes.js';
import { Rqvae } from '../src/rqvae/model.js';
import { GENREC_RQVAE } from '../src/rqvae/settings.js';
import { trainingStep } from '../src/rqvae/step.js';

const { values } = parseArgs({
  options: {
    cpu: { type: 'boolean', default: false },
    steps: { type: 'string', default: '8' },
    levels: { type: 'string', default: String(GENREC_RQVAE.levels) },
    profile: { type: 'boolean', default: false },
  },
});
const steps = Number(values.steps);
const DIM = 768;
const ROWS = 4096;
const BATCH = 1024;
const settings = { ...GENREC_RQVAE, levels: Number(values.levels), kmeansSamples: ROWS, kmeansIterations: 10 };

const info = await selectBackend({ prefer: 'wasm', log: () => {} });
const rng = new Rng(7);
// Unit-norm rows around 512 directions, like sentence-T5 embeddings of related items.
const centres = rng.fillNormal(new Float32Array(512 * DIM));
const data = new Float32Array(ROWS * DIM);
for (let i = 0; i < ROWS; i++) {
  const c = rng.int(512);
  let norm = 0;
  for (let j = 0; j < DIM; j++) {
    const v = centres[c * DIM + j]! + 0.5 * rng.normal();
    data[i * DIM + j] = v;
    norm += v * v;
  }
  for (let j = 0; j < DIM; j++) data[i * DIM + j]! /= Math.sqrt(norm);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Multiply-adds x 2 of one step's matMuls: forward, dW of every layer, dx of all but the first. */
function stepGflop(): number {
  const widths = [DIM, ...settings.hiddenWidths, settings.latentDim];
  const mlp = widths.slice(1).reduce((sum, out, i) => sum + widths[i]! * out, 0); // one MLP, per item
  const firstLayer = widths[0]! * widths[1]!;
  const distances = settings.levels * settings.codebookSize * settings.latentDim;
  return (2 * BATCH * (3 * 2 * mlp - firstLayer + distances)) / 1e9;
}

/** GFLOP/s of a plain 1024^3 matMul right now (the machine is shared: this says how loaded it is). */
function matMulGflops(): number {
  const a = tf.tensor2d(rng.fillNormal(new Float32Array(1024 * 1024)), [1024, 1024]);
  let best = Infinity;
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    tf.tidy(() => void tf.matMul(a, a).dataSync());
    if (i > 0) best = Math.min(best, performance.now() - t0);
  }
  a.dispose();
  return Math.round((2 * 1024 ** 3) / (best / 1000) / 1e8) / 10;
}

/** The [m,k] x [k,n] products of one training step (rqvae/layers.ts, rqvae/quantizer.ts). */
function stepMatMulShapes(): Array<[number, number, number]> {
  const widths = [DIM, ...settings.hiddenWidths, settings.latentDim];
  const shapes: Array<[number, number, number]> = [];
  for (const w of [widths, [...widths].reverse()]) {
    for (let i = 0; i + 1 < w.length; i++) {
      const [inW, outW] = [w[i]!, w[i + 1]!];
      shapes.push([BATCH, inW, outW]); // forward
      shapes.push([inW, BATCH, outW]); // dW = x^T . dpre
      if (!(w === widths && i === 0)) shapes.push([BATCH, outW, inW]); // dx = dpre . W^T (not for the data)
    }
  }
  for (let l = 0; l < settings.levels; l++) shapes.push([BATCH, settings.latentDim + 1, settings.codebookSize]);
  return shapes;
}

/**
 * Fastest of 5 runs of all the step's matMuls back to back, ms. Every run gets fresh operands, as
 * a step does: tfjs-wasm caches XNNPACK's packed copy of a reused right-hand operand, which a
 * training step never reuses (new weights, new gradients).
 */
function matMulFloorMs(): number {
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const operands = stepMatMulShapes().map(([m, k, n]) => [tf.randomNormal([m, k]), tf.randomNormal([k, n])] as [tf.Tensor2D, tf.Tensor2D]);
    const t0 = performance.now();
    for (const [a, b] of operands) tf.tidy(() => void tf.matMul(a, b).dataSync());
    best = Math.min(best, performance.now() - t0);
    tf.dispose(operands.flat());
  }
  return Math.round(best);
}

interface StepTimes {
  ms_per_step: number;
  wall_ms_per_step: number;
  median_ms: number;
  cpu_ms_per_step: number;
  loadavg: [number, number];
  leaked_tensors: number;
}

const load1 = () => Math.round(loadavg()[0]! * 100) / 100;

/** Times `count` training steps after one warm-up step, on fresh k-means-initialised weights. */
async function timeSteps(count: number, sinkhornLastLevel: boolean): Promise<StepTimes> {
  const model = new Rqvae({ inputDim: DIM, settings: { ...settings, sinkhornLastLevel } }, new Rng(1));
  await initCodebooksByKMeans(model, data, new Rng(2));
  const optimizer = new AdamW(model.variables(), { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 1e-4 });
  const tensorsBefore = tf.memory().numTensors;
  const wall: number[] = [];
  let cpuStart = 0;
  const loadBefore = load1();
  for (let s = 0; s <= count; s++) {
    if (s === 1) cpuStart = cpuMs(); // step 0 warms up kernels and the heap
    const from = ((s * BATCH) % ROWS) * DIM;
    const t0 = performance.now();
    const x = tf.tensor2d(data.subarray(from, from + BATCH * DIM), [BATCH, DIM]);
    trainingStep(model, optimizer, x, 1e-3);
    x.dispose();
    if (s > 0) wall.push(performance.now() - t0);
  }
  const cpuPerStep = (cpuMs() - cpuStart) / count;
  const leaked = tf.memory().numTensors - tensorsBefore;
  model.dispose();
  return {
    ms_per_step: Math.round(Math.min(...wall)),
    wall_ms_per_step: Math.round(wall.reduce((a, b) => a + b, 0) / count),
    median_ms: Math.round(median(wall)),
    cpu_ms_per_step: Math.round(cpuPerStep),
    loadavg: [loadBefore, load1()],
    leaked_tensors: leaked,
  };
}

async function measure(backend: 'wasm' | 'cpu', count: number): Promise<Record<string, unknown>> {
  await tf.setBackend(backend);
  const out: Record<string, unknown> = { ...(await timeSteps(count, true)) };
  if (backend === 'wasm') out['without_sinkhorn'] = await timeSteps(count, false); // cpu: seconds per step, skip
  const model = new Rqvae({ inputDim: DIM, settings }, new Rng(1));
  await initCodebooksByKMeans(model, data, new Rng(2));
  const cost = lastLevelDistances(model, data, Int32Array.from({ length: BATCH }, (_, i) => i));
  const sinkhornMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    sinkhornAssignScaling(cost, BATCH, settings.codebookSize, settings.sinkhornEpsilon, settings.sinkhornIterations);
    sinkhornMs.push(performance.now() - t0);
  }
  out['sinkhorn_ms'] = Math.round(Math.min(...sinkhornMs));
  if (values.profile) {
    const optimizer = new AdamW(model.variables(), { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 1e-4 });
    const x = tf.tensor2d(data.subarray(0, BATCH * DIM), [BATCH, DIM]);
    const profile = await tf.profile(() => void trainingStep(model, optimizer, x, 1e-3));
    const byKernel = new Map<string, number>();
    // 'unnamed scope' / 'forward' are our custom ops: their time includes the kernels they run.
    for (const k of profile.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + Number(k.kernelTimeMs));
    out['kernel_ms'] = Object.fromEntries([...byKernel].sort((a, b) => b[1] - a[1]).map(([n, ms]) => [n, Math.round(ms * 10) / 10]));
    out['kernels'] = profile.kernels.length;
    x.dispose();
  }
  model.dispose();
  return out;
}

const result: Record<string, unknown> = {
  bench: 'rqvae',
  node: process.version,
  backend: info.name,
  simd: info.simd,
  batch: BATCH,
  widths: [DIM, ...settings.hiddenWidths, settings.latentDim],
  codes: `${settings.levels}x${settings.codebookSize}`,
  sinkhorn_iterations: settings.sinkhornIterations,
  step_matmul_gflop: Math.round(stepGflop() * 100) / 100,
};
const wasm = await measure('wasm', steps);
result['ms_per_step'] = wasm['ms_per_step'];
result['wall_ms_per_step'] = wasm['wall_ms_per_step'];
result['cpu_ms_per_step'] = wasm['cpu_ms_per_step'];
result['loadavg'] = wasm['loadavg'];
result['matmul_gflops_now'] = matMulGflops();
result['matmul_floor_ms'] = matMulFloorMs();
result['wasm'] = wasm;
if (values.cpu) result['cpu'] = await measure('cpu', 1);
console.log(JSON.stringify(result));
