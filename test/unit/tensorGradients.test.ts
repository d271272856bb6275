import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { Rng } from '../../src/tensor/rng.js';

/**
 * src/tensor/gradients.ts registers the kernel gradients tfjs-core 4.22 leaves out. Reference 1:
 * tfjs-core's own gradient configs, which ship only as extensionless ESM (unloadable by Node), so
 * esbuild (a dependency of tsx) bundles them here. They share the global engine and registry.
 * Reference 2, for what tfjs has no (or a broken) gradient for: central finite differences.
 */
type GradConfig = Parameters<typeof tf.registerGradient>[0];
const official = new Map<string, GradConfig>();

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
  const dir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-core/package.json')), 'dist', 'gradients');
  const files = (await readdir(dir)).filter((f) => f.endsWith('_grad.js')).sort();
  const entry = files.map((f, i) => `export * as g${i} from ${JSON.stringify(`./${f}`)};`).join('\n');
  const out = await build({ stdin: { contents: entry, resolveDir: dir, loader: 'js' }, bundle: true, format: 'esm', platform: 'node', write: false, logLevel: 'silent' });
  const work = await mkdtemp(join(tmpdir(), 'lcrec-grads-'));
  try {
    const file = join(work, 'official-gradients.mjs');
    await writeFile(file, out.outputFiles[0]!.text);
    const mod = (await import(pathToFileURL(file).href)) as Record<string, Record<string, unknown>>;
    for (const ns of Object.values(mod)) {
      for (const value of Object.values(ns)) {
        const config = value as GradConfig;
        if (config && typeof config.kernelName === 'string' && typeof config.gradFunc === 'function') official.set(config.kernelName, config);
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  assert.ok(official.size > 90, `found ${official.size} official gradient configs`);
});

function withGradients<T>(configs: Map<string, GradConfig>, fn: () => T): T {
  const saved = new Map([...configs.keys()].map((k) => [k, tf.getGradient(k)] as const));
  for (const c of configs.values()) tf.registerGradient(c);
  try {
    return fn();
  } finally {
    for (const [k, c] of saved) if (c) tf.registerGradient(c);
  }
}

type Gen = 'normal' | 'positive' | [number, number];
interface Case {
  name: string;
  f: (xs: tf.Tensor[]) => tf.Tensor;
  shapes: number[][];
  gen?: Gen[];
  /** 'official' (default): compare with tfjs's config; 'numeric': finite differences only. */
  ref?: 'official' | 'numeric';
}

const rng = new Rng(99);
function makeInputs(c: Case): Float32Array[] {
  return c.shapes.map((shape, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const gen = c.gen?.[i] ?? 'normal';
    const data = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      if (gen === 'normal') data[j] = rng.normal();
      else if (gen === 'positive') data[j] = 0.5 + 1.5 * rng.float();
      else data[j] = gen[0] + (gen[1] - gen[0]) * rng.float();
    }
    return data;
  });
}

/** Gradients of sum(f(xs) * w) for a fixed random w, as plain arrays. */
function gradients(c: Case, inputs: Float32Array[], weights: Float32Array): Float32Array[] {
  return tf.tidy(() => {
    const xs = inputs.map((d, i) => tf.tensor(d, c.shapes[i]));
    const loss = (...args: tf.Tensor[]) => {
      const y = c.f(args);
      return tf.sum(tf.mul(y, tf.tensor(weights, y.shape)));
    };
    return tf.grads(loss)(xs).map((g) => Float32Array.from(g.dataSync()));
  });
}

function lossValue(c: Case, inputs: Float32Array[], weights: Float32Array): number {
  return tf.tidy(() => {
    const y = c.f(inputs.map((d, i) => tf.tensor(d, c.shapes[i])));
    const v = y.dataSync();
    let s = 0;
    for (let i = 0; i < v.length; i++) s += (v[i] as number) * (weights[i] as number);
    return s;
  });
}

function numericGradients(c: Case, inputs: Float32Array[], weights: Float32Array, h = 1e-2): Float32Array[] {
  return inputs.map((data, i) =>
    Float32Array.from(data, (_, j) => {
      const plus = inputs.map((d) => Float32Array.from(d));
      const minus = inputs.map((d) => Float32Array.from(d));
      plus[i]![j]! += h;
      minus[i]![j]! -= h;
      return (lossValue(c, plus, weights) - lossValue(c, minus, weights)) / (2 * h);
    }),
  );
}

function assertClose(actual: Float32Array[], expected: Float32Array[], what: string, rtol: number): void {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    const scale = Math.max(1e-3, ...Array.from(e, Math.abs));
    for (let j = 0; j < e.length; j++) {
      assert.ok(Math.abs(a[j]! - e[j]!) <= rtol * (Math.abs(e[j]!) + 0.1 * scale), `${what}: input ${i} [${j}] ${a[j]} vs ${e[j]}`);
    }
  });
}

const nonzero: Gen = [0.3, 2];
const cases: Case[] = [
  { name: 'Add', f: ([a, b]) => tf.add(a!, b!), shapes: [[3, 4], [3, 4]] },
  { name: 'Add broadcast', f: ([a, b]) => tf.add(a!, b!), shapes: [[3, 1], [1, 4]] },
  { name: 'Sub broadcast', f: ([a, b]) => tf.sub(a!, b!), shapes: [[2, 3, 4], [4]] },
  { name: 'Multiply broadcast', f: ([a, b]) => tf.mul(a!, b!), shapes: [[3, 4], [3, 1]] },
  { name: 'RealDiv broadcast', f: ([a, b]) => tf.div(a!, b!), shapes: [[3, 4], [4]], gen: ['normal', nonzero] },
  { name: 'SquaredDifference', f: ([a, b]) => tf.squaredDifference(a!, b!), shapes: [[5, 2], [5, 2]] },
  { name: 'SquaredDifference broadcast', f: ([a, b]) => tf.squaredDifference(a!, b!), shapes: [[5, 2], [2]], ref: 'numeric' },
  { name: 'Maximum', f: ([a, b]) => tf.maximum(a!, b!), shapes: [[4, 3], [4, 3]] },
  { name: 'Minimum', f: ([a, b]) => tf.minimum(a!, b!), shapes: [[4, 3], [4, 3]] },
  { name: 'Maximum broadcast', f: ([a, b]) => tf.maximum(a!, b!), shapes: [[4, 3], [3]], ref: 'numeric' },
  { name: 'Pow', f: ([a, b]) => tf.pow(a!, b!), shapes: [[3, 3], [3, 3]], gen: ['positive', 'normal'] },
  { name: 'AddN', f: ([a, b, c]) => tf.addN([a!, b!, c!]), shapes: [[2, 3], [2, 3], [2, 3]] },
  { name: 'Neg', f: ([x]) => tf.neg(x!), shapes: [[7]] },
  { name: 'Abs', f: ([x]) => tf.abs(x!), shapes: [[7]] },
  { name: 'Square', f: ([x]) => tf.square(x!), shapes: [[7]] },
  { name: 'Sqrt', f: ([x]) => tf.sqrt(x!), shapes: [[7]], gen: ['positive'] },
  { name: 'Rsqrt', f: ([x]) => tf.rsqrt(x!), shapes: [[7]], gen: ['positive'] },
  { name: 'Reciprocal', f: ([x]) => tf.reciprocal(x!), shapes: [[7]], gen: ['positive'] },
  { name: 'Exp', f: ([x]) => tf.exp(x!), shapes: [[7]] },
  { name: 'Expm1', f: ([x]) => tf.expm1(x!), shapes: [[7]] },
  { name: 'Log', f: ([x]) => tf.log(x!), shapes: [[7]], gen: ['positive'] },
  { name: 'Log1p', f: ([x]) => tf.log1p(x!), shapes: [[7]], gen: ['positive'] },
  { name: 'Sigmoid', f: ([x]) => tf.sigmoid(x!), shapes: [[7]] },
  { name: 'Tanh', f: ([x]) => tf.tanh(x!), shapes: [[7]] },
  { name: 'Softplus', f: ([x]) => tf.softplus(x!), shapes: [[7]] },
  { name: 'Relu', f: ([x]) => tf.relu(x!), shapes: [[9]] },
  { name: 'Relu6', f: ([x]) => tf.relu6(x!), shapes: [[9]], gen: [[-3, 9]] },
  { name: 'LeakyRelu', f: ([x]) => tf.leakyRelu(x!, 0.2), shapes: [[9]] },
  { name: 'Elu', f: ([x]) => tf.elu(x!), shapes: [[9]], ref: 'numeric' },
  { name: 'Erf', f: ([x]) => tf.erf(x!), shapes: [[7]] },
  { name: 'Sin', f: ([x]) => tf.sin(x!), shapes: [[7]] },
  { name: 'Cos', f: ([x]) => tf.cos(x!), shapes: [[7]] },
  { name: 'Identity', f: ([x]) => tf.clone(x!), shapes: [[4]] },
  { name: 'Cast', f: ([x]) => tf.add(tf.cast(tf.cast(x!, 'int32'), 'float32'), x!), shapes: [[4]], gen: [[0.1, 5]] },
  { name: 'ClipByValue', f: ([x]) => tf.clipByValue(x!, -0.5, 0.7), shapes: [[9]] },
  { name: 'zero gradients (Floor, Sign, Round, Step)', f: ([x]) => tf.add(tf.add(tf.floor(x!), tf.sign(x!)), tf.add(tf.round(x!), tf.mul(x!, tf.step(x!)))), shapes: [[9]], ref: 'numeric' },
  { name: 'Select with a condition computed from the inputs', f: ([a, b]) => tf.where(tf.greater(a!, b!), a!, b!), shapes: [[3, 4], [3, 4]], ref: 'numeric' },
  { name: 'Select', f: ([a, b]) => tf.where(tf.tensor([true, false, false, true], [2, 2], 'bool'), a!, b!), shapes: [[2, 2], [2, 2]] },
  { name: 'Sum axis', f: ([x]) => tf.sum(x!, 1), shapes: [[3, 4, 2]] },
  { name: 'Sum keepDims', f: ([x]) => tf.sum(x!, [0, 2], true), shapes: [[3, 4, 2]] },
  { name: 'Sum all', f: ([x]) => tf.sum(x!), shapes: [[3, 4]] },
  { name: 'Mean', f: ([x]) => tf.mean(x!, 0), shapes: [[3, 4]] },
  { name: 'Mean keepDims', f: ([x]) => tf.mean(x!, -1, true), shapes: [[3, 4]] },
  { name: 'Max', f: ([x]) => tf.max(x!, 1), shapes: [[3, 5]] },
  { name: 'Min keepDims', f: ([x]) => tf.min(x!, 0, true), shapes: [[3, 5]] },
  { name: 'logSumExp (Max, Sub, Exp, Sum, Log, Add)', f: ([x]) => tf.logSumExp(x!, 1), shapes: [[4, 6]] },
  { name: 'Reshape', f: ([x]) => tf.reshape(x!, [6, 2]), shapes: [[3, 4]] },
  { name: 'ExpandDims', f: ([x]) => tf.expandDims(x!, 1), shapes: [[3, 4]] },
  { name: 'Transpose', f: ([x]) => tf.transpose(x!, [2, 0, 1]), shapes: [[2, 3, 4]] },
  { name: 'Reverse', f: ([x]) => tf.reverse(x!, 1), shapes: [[2, 3]] },
  { name: 'Concat', f: ([a, b, c]) => tf.concat([a!, b!, c!], 1), shapes: [[2, 1], [2, 3], [2, 2]] },
  { name: 'Pack', f: ([a, b]) => tf.stack([a!, b!], 1), shapes: [[3, 2], [3, 2]] },
  { name: 'Unpack', f: ([x]) => { const [p, , q] = tf.unstack(x!, 1); return tf.add(p!, tf.mul(q!, 2)); }, shapes: [[4, 3]] },
  { name: 'SplitV', f: ([x]) => { const [p, q] = tf.split(x!, [1, 3], 1); return tf.mul(tf.sum(q!, 1, true), p!); }, shapes: [[2, 4]] },
  { name: 'Slice', f: ([x]) => tf.slice(x!, [1, 0], [2, 2]), shapes: [[4, 3]] },
  { name: 'PadV2', f: ([x]) => tf.pad(x!, [[1, 0], [2, 1]], 3), shapes: [[2, 2]] },
  { name: 'Tile', f: ([x]) => tf.tile(x!, [2, 3]), shapes: [[2, 3]] },
  { name: 'Tile rank 5', f: ([x]) => tf.tile(x!, [1, 2, 1, 3, 1]), shapes: [[2, 1, 2, 2, 1]], ref: 'numeric' },
  { name: 'BroadcastTo (a Tile)', f: ([x]) => tf.broadcastTo(x!, [3, 4]), shapes: [[1, 4]] },
  { name: 'Softmax', f: ([x]) => tf.softmax(x!), shapes: [[3, 5]] },
  { name: 'logSoftmax', f: ([x]) => tf.logSoftmax(x!), shapes: [[3, 5]] },
  { name: 'BatchMatMul', f: ([a, b]) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), shapes: [[3, 4], [4, 5]] },
  { name: 'BatchMatMul transposeB', f: ([a, b]) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, true), shapes: [[3, 4], [5, 4]] },
  { name: 'BatchMatMul transposeA', f: ([a, b]) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, false), shapes: [[4, 3], [4, 5]] },
  { name: 'BatchMatMul transposeA+B', f: ([a, b]) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, true), shapes: [[4, 3], [5, 4]] },
  { name: 'BatchMatMul batched', f: ([a, b]) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, false, true), shapes: [[2, 3, 4], [2, 5, 4]] },
  { name: 'BatchMatMul broadcast batch', f: ([a, b]) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D), shapes: [[2, 3, 4], [1, 4, 5]], ref: 'numeric' },
  { name: 'GatherV2', f: ([x]) => tf.gather(x!, tf.tensor1d([4, 0, 4, 1], 'int32')), shapes: [[6, 3]] },
  { name: 'GatherV2 axis 1, 2-D indices', f: ([x]) => tf.gather(x!, tf.tensor2d([[2, 0], [2, 2]], [2, 2], 'int32'), 1), shapes: [[2, 3, 2]] },
  { name: 'GatherV2 with argMin indices', f: ([x, c]) => tf.gather(c!, tf.argMin(tf.matMul(x as tf.Tensor2D, c as tf.Tensor2D, false, true), 1)), shapes: [[5, 3], [4, 3]], ref: 'numeric' },
];

for (const c of cases) {
  test(`gradient of ${c.name}: matches ${c.ref === 'numeric' ? 'finite differences' : "tfjs-core's own config"}, on cpu and wasm`, async () => {
    const inputs = makeInputs(c);
    await tf.setBackend('cpu');
    const weights = tf.tidy(() => {
      const n = c.f(inputs.map((d, i) => tf.tensor(d, c.shapes[i]))).size;
      return Float32Array.from({ length: n }, () => rng.normal());
    });
    const mine = gradients(c, inputs, weights);
    const reference = c.ref === 'numeric' ? numericGradients(c, inputs, weights) : withGradients(official, () => gradients(c, inputs, weights));
    assertClose(mine, reference, `${c.name} vs ${c.ref ?? 'official'}`, c.ref === 'numeric' ? 2e-2 : 1e-5);
    await tf.setBackend('wasm');
    assertClose(gradients(c, inputs, weights), mine, `${c.name} wasm vs cpu`, 1e-4);
  });
}

test('the official configs disagree where ours deliberately differ (so the comparisons above can fail)', async () => {
  await tf.setBackend('cpu');
  // tfjs hands back int32 indices as the "gradient" of indices that depend on a variable.
  const argMinCase = cases.find((c) => c.name === 'GatherV2 with argMin indices')!;
  const inputs = makeInputs(argMinCase);
  assert.throws(() => withGradients(official, () => gradients(argMinCase, inputs, new Float32Array(5 * 3).fill(1))), /float32/);
  // And its Maximum forgets to reduce broadcast dims.
  const maxCase = cases.find((c) => c.name === 'Maximum broadcast')!;
  assert.throws(() => withGradients(official, () => gradients(maxCase, makeInputs(maxCase), new Float32Array(12).fill(1))), /shape/);
});

test('importing the engine registers gradients for the kernels training uses', () => {
  const needed = ['BatchMatMul', 'Add', 'Sub', 'Multiply', 'RealDiv', 'Sum', 'Mean', 'Max', 'Square', 'Sqrt', 'Rsqrt', 'Exp', 'Log', 'Sigmoid', 'Tanh', 'Relu', 'Reshape', 'Transpose', 'Concat', 'Slice', 'Softmax', 'GatherV2', 'Select', 'Tile', 'Maximum', 'ClipByValue', 'ArgMin', 'Cast', 'Identity'];
  for (const name of needed) assert.ok(tf.getGradient(name), `no gradient for ${name}`);
  // Ours, not tfjs's: the BatchMatMul gradient is the explicit-transpose one.
  assert.notEqual(tf.getGradient('BatchMatMul'), official.get('BatchMatMul'));
});
