/**
 * Tensor engine throughput on this machine, per backend (wasm always, cpu with --cpu):
 * - GFLOP/s of a 1024^3 matMul: our matMul (plain), ours for A.B^T (explicit transpose), and
 *   tf.matMul with transposeB (the flag XNNPACK does not serve);
 * - ms per training step (forward + backward + SGD) of genrec's RQ-VAE MLPs without quantisation:
 *   768-512-256-128-64 encoder, mirrored decoder, SiLU between, no bias, MSE, batch 1024; with our
 *   primitives, with plain tf ops (their gradients are ours, from gradients.ts), and with plain tf
 *   ops under tfjs's own flag-based matMul gradient (what @tensorflow/tfjs would run);
 * - ms of the last level's Sinkhorn (1024 x 256, 50 iterations).
 * Prints one JSON line. Not run by CI.
 *   node --import tsx bench/engine.ts [--cpu] [--steps 5]
 */
import { parseArgs } from 'node:util';
import { selectBackend, tf } from '../src/tensor/backend.js';
import { engineMemory } from '../src/tensor/memory.js';
import { matMul, silu, sinkhornAssign } from '../src/tensor/ops.js';
import { Rng } from '../src/tensor/rng.js';

const { values } = parseArgs({ options: { cpu: { type: 'boolean', default: false }, steps: { type: 'string', default: '5' } } });
const steps = Number(values.steps);
const rng = new Rng(1);
const info = await selectBackend({ prefer: 'wasm', log: () => {} });
const figures: Record<string, unknown> = { node: process.version, selected: info };

type Mode = 'ours' | 'tf_ops' | 'tf_ops_flag_gradient';
const ENCODER = [768, 512, 256, 128, 64];
const LAYERS = [...ENCODER.slice(0, -1).map((n, i) => [n, ENCODER[i + 1]!]), ...[...ENCODER].reverse().slice(0, -1).map((n, i, r) => [n, [...r, 768][i + 1]!])] as Array<[number, number]>;

function randomTensor(shape: number[], std = 1): tf.Tensor {
  return tf.tensor(rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), 0, std), shape);
}

/** Fastest of `repeats` runs after a warm-up: other processes share the 2 cores, the minimum is the least disturbed. */
function time(fn: () => void, repeats: number): number {
  fn(); // warm-up: kernels set up, heap grown
  let best = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

function matMulFigures(repeats: number): Record<string, number> {
  const n = 1024;
  const a = randomTensor([n, n]) as tf.Tensor2D;
  const b = randomTensor([n, n]) as tf.Tensor2D;
  const gflops = (ms: number) => Math.round(((2 * n ** 3) / (ms / 1000) / 1e9) * 10) / 10;
  const run = (f: () => tf.Tensor) => () => tf.tidy(() => void f().dataSync());
  const result = {
    ours_gflops: gflops(time(run(() => matMul(a, b)), repeats)),
    ours_a_bT_gflops: gflops(time(run(() => matMul(a, tf.transpose(b))), repeats)),
    tf_matMul_transposeB_gflops: gflops(time(run(() => tf.matMul(a, b, false, true)), Math.max(1, Math.floor(repeats / 3)))),
  };
  a.dispose();
  b.dispose();
  return result;
}

/** tfjs-core's own BatchMatMul gradient (transpose flags), registered for one measurement. */
function withFlagGradient<T>(fn: () => T): T {
  const ours = tf.getGradient('BatchMatMul');
  tf.registerGradient({
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved as [tf.Tensor2D, tf.Tensor2D];
      return { a: () => tf.matMul(dy as tf.Tensor2D, b, false, true), b: () => tf.matMul(a, dy as tf.Tensor2D, true, false) };
    },
  });
  try {
    return fn();
  } finally {
    tf.registerGradient(ours);
  }
}

function trainingStepMs(mode: Mode, repeats: number): { step_ms: number; forward_ms: number } {
  const x = randomTensor([1024, 768], 0.05) as tf.Tensor2D;
  const weights = LAYERS.map(([i, o]) => {
    const init = randomTensor([i, o], Math.sqrt(1 / i));
    const w = tf.variable(init) as tf.Variable<tf.Rank.R2>;
    init.dispose(); // the variable holds its own reference to the data
    return w;
  });
  const mul = mode === 'ours' ? matMul : (p: tf.Tensor2D, q: tf.Tensor2D): tf.Tensor2D => tf.matMul(p, q);
  const act = (t: tf.Tensor2D): tf.Tensor2D => (mode === 'ours' ? silu(t) : (tf.mul(t, tf.sigmoid(t)) as tf.Tensor2D));
  const forward = (): tf.Scalar => {
    let h = x;
    weights.forEach((w, i) => {
      h = mul(h, w);
      const lastOfMlp = i === ENCODER.length - 2 || i === weights.length - 1;
      if (!lastOfMlp) h = act(h);
    });
    return tf.mean(tf.square(tf.sub(h, x)));
  };
  const step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(forward, weights);
      for (const w of weights) w.assign(tf.sub(w, tf.mul(grads[w.name]!, 0.01)));
      value.dataSync();
    });
  const measure = () => ({
    step_ms: Math.round(time(step, repeats)),
    forward_ms: Math.round(time(() => tf.tidy(() => void forward().dataSync()), repeats)),
  });
  const result = mode === 'tf_ops_flag_gradient' ? withFlagGradient(measure) : measure();
  x.dispose();
  for (const w of weights) w.dispose();
  return result;
}

const backends = values.cpu ? (['wasm', 'cpu'] as const) : (['wasm'] as const);
for (const backend of backends) {
  await tf.setBackend(backend);
  const slow = backend === 'cpu';
  const tensorsBefore = tf.memory().numTensors;
  const repeats = slow ? 1 : steps;
  const entry: Record<string, unknown> = {
    matmul_1024: matMulFigures(slow ? 1 : 5),
    rqvae_mlp_step_batch1024: {
      ours: trainingStepMs('ours', repeats),
      tf_ops: trainingStepMs('tf_ops', repeats),
      tf_ops_flag_gradient: trainingStepMs('tf_ops_flag_gradient', slow ? 1 : Math.max(1, Math.floor(repeats / 2))),
    },
    leaked_tensors: tf.memory().numTensors - tensorsBefore,
  };
  const heap = engineMemory().wasmHeapBytes;
  figures[backend] = {
    ...entry,
    wasm_heap_mib: heap === null ? null : Math.round((heap / 2 ** 20) * 10) / 10,
  };
}

const cost = rng.fillUniform(new Float32Array(1024 * 256), 0, 4);
figures['sinkhorn_1024x256_50iter_ms'] = Math.round(time(() => void sinkhornAssign(cost, 1024, 256, 0.003, 50), 5));
console.log(JSON.stringify(figures));
