import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { argMinRows, gatherRows, linear, matMul, silu, sinkhorn, sinkhornAssign, squaredDistances, straightThrough, centerCosts } from '../../src/tensor/ops.js';
import { lazyGradientsActive, setLazyGradients } from '../../src/tensor/customOp.js';
import { Rng } from '../../src/tensor/rng.js';

type Backend = 'wasm' | 'cpu';
interface Input {
  data: Float32Array;
  shape: number[];
}
interface Result {
  value: Float32Array;
  grads: Float32Array[];
}

before(async () => {
  // wasm is the engine; cpu (registered by the same import) is the reference.
  const info = await selectBackend({ prefer: 'wasm', log: () => {} });
  assert.equal(info.name, 'wasm');
});

const rng = new Rng(42);
function randn(shape: number[], scale = 1): Input {
  return { data: rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), 0, scale), shape };
}

/**
 * Forward value and gradients of sum(f(inputs) * weights) on one backend: the random weights make
 * dy non-uniform, so a wrong gradient cannot hide behind a constant upstream gradient.
 */
async function run(backend: Backend, f: (xs: tf.Tensor[]) => tf.Tensor, inputs: Input[], weights: Input): Promise<Result> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const xs = inputs.map((i) => tf.tensor(i.data, i.shape));
    const w = tf.tensor(weights.data, weights.shape);
    const forward = tf.tidy(() => f(xs));
    const { grads } = tf.valueAndGrads((...args: tf.Tensor[]) => tf.sum(tf.mul(f(args), w)))(xs);
    return { value: Float32Array.from(forward.dataSync()), grads: grads.map((g) => Float32Array.from(g.dataSync())) };
  });
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string, rtol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    const tol = rtol * Math.abs(e) + rtol * 0.1 * scale; // relative, with a floor for values near zero
    assert.ok(Math.abs(a - e) <= tol, `${what}[${i}]: ${a} vs ${e} (tolerance ${tol})`);
  }
}

function assertSameResult(actual: Result, expected: Result, what: string, rtol = 1e-4): void {
  assertClose(actual.value, expected.value, `${what} value`, rtol);
  assert.equal(actual.grads.length, expected.grads.length);
  actual.grads.forEach((g, i) => assertClose(g, expected.grads[i] as Float32Array, `${what} grad ${i}`, rtol));
}

/** Records the transpose flags of every BatchMatMul the current backend runs. */
function spyOnMatMul(): { calls: { transposeA: boolean; transposeB: boolean }[]; restore: () => void } {
  const backend = tf.getBackend();
  const kernel = tf.getKernel('BatchMatMul', backend);
  assert.ok(kernel);
  const calls: { transposeA: boolean; transposeB: boolean }[] = [];
  tf.unregisterKernel('BatchMatMul', backend);
  tf.registerKernel({
    ...kernel,
    kernelFunc: (args) => {
      const attrs = args.attrs as { transposeA: boolean; transposeB: boolean };
      calls.push({ transposeA: attrs.transposeA, transposeB: attrs.transposeB });
      return kernel.kernelFunc(args);
    },
  });
  return {
    calls,
    restore: () => {
      tf.unregisterKernel('BatchMatMul', backend);
      tf.registerKernel(kernel);
    },
  };
}

test('matMul: forward and gradients match on wasm, cpu and tf.matMul', async () => {
  const a = randn([37, 53]);
  const b = randn([53, 29]);
  const w = randn([37, 29]);
  const ours = (xs: tf.Tensor[]) => matMul(xs[0] as tf.Tensor2D, xs[1] as tf.Tensor2D);
  const builtin = (xs: tf.Tensor[]) => tf.matMul(xs[0] as tf.Tensor2D, xs[1] as tf.Tensor2D);
  const reference = await run('cpu', builtin, [a, b], w);
  assertSameResult(await run('cpu', ours, [a, b], w), reference, 'cpu');
  assertSameResult(await run('wasm', ours, [a, b], w), reference, 'wasm');
  assert.throws(() => matMul(tf.zeros([2, 3]), tf.zeros([4, 2])), /cannot multiply \[2,3\] by \[4,2\]/);
});

test('matMul issues only untransposed matMuls, and only the gradients on the path', async () => {
  await tf.setBackend('wasm');
  const a = tf.tensor2d(randn([8, 5]).data, [8, 5]);
  const b = tf.tensor2d(randn([5, 3]).data, [5, 3]);
  const spy = spyOnMatMul();
  try {
    tf.tidy(() => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(matMul(x as tf.Tensor2D, y as tf.Tensor2D)))([a, b]));
    assert.equal(spy.calls.length, 3); // forward, dA, dB
    assert.ok(spy.calls.every((c) => !c.transposeA && !c.transposeB), JSON.stringify(spy.calls));

    // Only b needs a gradient: the lazy path skips dA (customGrad would compute it anyway).
    if (lazyGradientsActive()) {
      spy.calls.length = 0;
      tf.tidy(() => tf.grad((y: tf.Tensor) => tf.sum(matMul(a, y as tf.Tensor2D)))(b));
      assert.equal(spy.calls.length, 2);
    }
    const previous = setLazyGradients(false);
    try {
      spy.calls.length = 0;
      tf.tidy(() => tf.grad((y: tf.Tensor) => tf.sum(matMul(a, y as tf.Tensor2D)))(b));
      assert.equal(spy.calls.length, 3);
    } finally {
      setLazyGradients(previous);
    }

    // tf.matMul's registered gradient (gradients.ts) also avoids the flags...
    spy.calls.length = 0;
    tf.tidy(() => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D)))([a, b]));
    assert.equal(spy.calls.length, 3);
    assert.ok(spy.calls.every((c) => !c.transposeA && !c.transposeB), JSON.stringify(spy.calls));
    // ...and the spy does see flags when an op sets them.
    spy.calls.length = 0;
    tf.tidy(() => tf.matMul(a, a, true, false));
    assert.deepEqual(spy.calls, [{ transposeA: true, transposeB: false }]);
  } finally {
    spy.restore();
    a.dispose();
    b.dispose();
  }
});

test('the tf.customGrad fallback computes the same values and gradients', async () => {
  const x = randn([6, 4]);
  const w1 = randn([4, 5]);
  const table = randn([7, 5]);
  const weights = randn([6, 5]);
  const f = (xs: tf.Tensor[]) => {
    const h = linear(xs[0] as tf.Tensor2D, xs[1] as tf.Tensor2D);
    const q = gatherRows(xs[2] as tf.Tensor2D, [1, 1, 6, 0, 2, 1]);
    return tf.add(straightThrough(h, q), h);
  };
  const lazy = await run('wasm', f, [x, w1, table], weights);
  const previous = setLazyGradients(false);
  try {
    assertSameResult(await run('wasm', f, [x, w1, table], weights), lazy, 'customGrad fallback', 1e-6);
  } finally {
    setLazyGradients(previous);
  }
});

test('linear with bias: matches tf.matMul + tf.add on cpu, on both backends', async () => {
  const x = randn([16, 12]);
  const w = randn([12, 7]);
  const bias = randn([7]);
  const weights = randn([16, 7]);
  const ours = (xs: tf.Tensor[]) => linear(xs[0] as tf.Tensor2D, xs[1] as tf.Tensor2D, xs[2] as tf.Tensor1D);
  const builtin = (xs: tf.Tensor[]) => tf.add(tf.matMul(xs[0] as tf.Tensor2D, xs[1] as tf.Tensor2D), xs[2] as tf.Tensor1D);
  const reference = await run('cpu', builtin, [x, w, bias], weights);
  assertSameResult(await run('wasm', ours, [x, w, bias], weights), reference, 'wasm');
  assertSameResult(await run('cpu', ours, [x, w, bias], weights), reference, 'cpu');
  const sil = await run('wasm', (xs) => silu(xs[0] as tf.Tensor), [x], randn([16, 12]));
  const x0 = x.data[0] as number;
  assert.ok(Math.abs((sil.value[0] as number) - x0 / (1 + Math.exp(-x0))) < 1e-5);
});

test('gatherRows: forward and scatter-add gradient match tf.gather on cpu, repeated indices included', async () => {
  const table = randn([10, 6]);
  const indices = [3, 1, 3, 0, 9, 3, 1];
  const weights = randn([indices.length, 6]);
  const ours = (xs: tf.Tensor[]) => gatherRows(xs[0] as tf.Tensor2D, indices);
  const builtin = (xs: tf.Tensor[]) => tf.gather(xs[0] as tf.Tensor2D, tf.tensor1d(indices, 'int32'));
  const reference = await run('cpu', builtin, [table], weights);
  const onWasm = await run('wasm', ours, [table], weights);
  assertSameResult(onWasm, reference, 'wasm');
  assertSameResult(await run('cpu', ours, [table], weights), reference, 'cpu');
  // Rows never gathered get exactly zero gradient; row 3 (three times) the sum of three rows of dy.
  const g = onWasm.grads[0] as Float32Array;
  assert.ok(g.subarray(2 * 6, 3 * 6).every((v) => v === 0));
  const expectedRow3 = [0, 2, 5].map((i) => weights.data.subarray(i * 6, i * 6 + 6)).reduce((acc, r) => acc.map((v, j) => v + (r[j] as number)));
  assertClose(g.subarray(3 * 6, 4 * 6), Float32Array.from(expectedRow3), 'row 3');
  assert.throws(() => gatherRows(tf.zeros([4, 2]), [0, 4]), /index 1 is 4, outside 0..3/);
  assert.throws(() => gatherRows(tf.zeros([4, 2]), [1.5]), /index 0 is 1.5/);
  assert.throws(() => gatherRows(tf.zeros([4, 2]), [-1]), RangeError);
});

test('codebook lookup with argMin codes trains on wasm (no UnsortedSegmentSum, no tape path to the indices)', async () => {
  await tf.setBackend('wasm');
  const x = tf.tensor2d(randn([12, 4]).data, [12, 4]);
  const codebook = tf.variable(tf.tensor2d(randn([5, 4]).data, [5, 4]));
  try {
    const { value, grads } = tf.tidy(() => {
      const codes = argMinRows(squaredDistances(x, codebook));
      return tf.variableGrads(() => tf.mean(tf.square(tf.sub(gatherRows(codebook, codes), x))) as tf.Scalar, [codebook]);
    });
    const g = grads[codebook.name] as tf.Tensor;
    assert.deepEqual(g.shape, [5, 4]);
    assert.ok(Number.isFinite(value.dataSync()[0]));
    assert.ok(g.dataSync().some((v) => v !== 0));
    value.dispose();
    g.dispose();
  } finally {
    x.dispose();
    codebook.dispose();
  }
});

test('straightThrough: value of q, identity gradient to x, none to q', async () => {
  const x = randn([9, 4]);
  const q = randn([9, 4]);
  const weights = randn([9, 4]);
  // L(y) = sum(y^2 * w): the gradient at y = q is 2 q w, whatever x is.
  const ours = (xs: tf.Tensor[]) => tf.square(straightThrough(xs[0] as tf.Tensor, xs[1] as tf.Tensor));
  const onWasm = await run('wasm', ours, [x, q], weights);
  const onCpu = await run('cpu', ours, [x, q], weights);
  assertSameResult(onWasm, onCpu, 'wasm vs cpu');
  // Built-in reference on cpu: tf.grad of L evaluated directly at q.
  await tf.setBackend('cpu');
  const atQ = tf.tidy(() => {
    const w = tf.tensor(weights.data, weights.shape);
    return Float32Array.from(tf.grad((y: tf.Tensor) => tf.sum(tf.mul(tf.square(y), w)))(tf.tensor(q.data, q.shape)).dataSync());
  });
  assertClose(onWasm.grads[0] as Float32Array, atQ, 'dx');
  assert.ok((onWasm.grads[1] as Float32Array).every((v) => v === 0), 'dq must be zero');
  const squaredQ = q.data.map((v) => v * v);
  assertClose(onWasm.value, squaredQ, 'forward is q');
  assert.throws(() => straightThrough(tf.zeros([2, 2]), tf.zeros([2, 3])), /shapes/);
});

test('squaredDistances: matches the broadcast formula on cpu, forward and gradients', async () => {
  const x = randn([11, 6]);
  const codebook = randn([8, 6]);
  const weights = randn([11, 8]);
  const ours = (xs: tf.Tensor[]) => squaredDistances(xs[0] as tf.Tensor2D, xs[1] as tf.Tensor2D);
  const builtin = (xs: tf.Tensor[]) => tf.sum(tf.squaredDifference(tf.expandDims(xs[0] as tf.Tensor, 1), tf.expandDims(xs[1] as tf.Tensor, 0)), 2);
  const reference = await run('cpu', builtin, [x, codebook], weights);
  assertSameResult(await run('wasm', ours, [x, codebook], weights), reference, 'wasm', 2e-4);
  assertSameResult(await run('cpu', ours, [x, codebook], weights), reference, 'cpu', 2e-4);
});

test('argMinRows: the row minima as an Int32Array, first index on ties, on both backends', async () => {
  const dist = randn([50, 17]);
  const expected = new Int32Array(50);
  for (let r = 0; r < 50; r++) {
    const row = dist.data.subarray(r * 17, r * 17 + 17);
    expected[r] = row.indexOf(Math.min(...row));
  }
  const ties = { data: Float32Array.from([3, 1, 1, 2, 0, 0, 5, 5, 5]), shape: [3, 3] };
  for (const backend of ['wasm', 'cpu'] as const) {
    await tf.setBackend(backend);
    const t = tf.tensor2d(dist.data, [50, 17]);
    const codes = argMinRows(t);
    t.dispose();
    assert.ok(codes instanceof Int32Array);
    assert.deepEqual(codes, expected, backend);
    const tt = tf.tensor2d(ties.data, [3, 3]);
    assert.deepEqual([...argMinRows(tt)], [1, 1, 0], `${backend} ties`);
    tt.dispose();
  }
});

/** The official sinkhorn_algorithm in float64, literally (exp of the centred costs, no log domain). */
function officialSinkhorn(cost: Float32Array, rows: number, cols: number, epsilon: number, iterations: number): Int32Array {
  const d = centerCosts(cost);
  const q = d.map((v) => Math.exp(-v / epsilon));
  const total = q.reduce((a, b) => a + b, 0);
  for (let i = 0; i < q.length; i++) q[i]! /= total;
  for (let it = 0; it < iterations; it++) {
    for (let b = 0; b < rows; b++) {
      let s = 0;
      for (let k = 0; k < cols; k++) s += q[b * cols + k]!;
      for (let k = 0; k < cols; k++) q[b * cols + k] = q[b * cols + k]! / s / rows;
    }
    for (let k = 0; k < cols; k++) {
      let s = 0;
      for (let b = 0; b < rows; b++) s += q[b * cols + k]!;
      for (let b = 0; b < rows; b++) q[b * cols + k] = q[b * cols + k]! / s / cols;
    }
  }
  const out = new Int32Array(rows);
  for (let b = 0; b < rows; b++) {
    let best = -Infinity;
    for (let k = 0; k < cols; k++) {
      const v = q[b * cols + k]! * rows;
      if (v > best || Number.isNaN(best)) {
        best = v;
        out[b] = k;
      }
    }
  }
  return out;
}

test('sinkhorn: same codes as the official float64 algorithm, on both backends', async () => {
  for (const [epsilon, iterations] of [
    [0.003, 50],
    [0.05, 50],
    [0.003, 0],
    [0.5, 3],
  ] as const) {
    const rows = 96;
    const cols = 24;
    // Squared distances of real latents to a codebook, not uniform noise.
    const x = randn([rows, 8]);
    const c = randn([cols, 8]);
    await tf.setBackend('cpu');
    const cost = tf.tidy(() => Float32Array.from(squaredDistances(tf.tensor2d(x.data, [rows, 8]), tf.tensor2d(c.data, [cols, 8])).dataSync()));
    const expected = officialSinkhorn(cost, rows, cols, epsilon, iterations);
    for (const backend of ['wasm', 'cpu'] as const) {
      await tf.setBackend(backend);
      const t = tf.tensor2d(cost, [rows, cols]);
      assert.deepEqual(sinkhorn(t, epsilon, iterations), expected, `${backend} eps=${epsilon} iters=${iterations}`);
      t.dispose();
    }
  }
});

test('sinkhorn: balances where argmin would not, and stays finite where the official float64 code overflows', () => {
  const rows = 64;
  const cols = 16;
  // Every item is closest to code 0: argmin would put all 64 there.
  const cost = new Float32Array(rows * cols);
  const r = new Rng(1);
  for (let b = 0; b < rows; b++) for (let k = 0; k < cols; k++) cost[b * cols + k] = k === 0 ? r.float() * 0.1 : 1 + r.float();
  const counts = (codes: Int32Array) => {
    const c = new Array<number>(cols).fill(0);
    for (const code of codes) c[code]! += 1;
    return c;
  };
  // The configured epsilon: same codes as the official algorithm, spread over all codes.
  const official = sinkhornAssign(cost, rows, cols, 0.003, 50);
  assert.deepEqual(official, officialSinkhorn(cost, rows, cols, 0.003, 50));
  assert.ok(Math.max(...counts(official)) <= 6, `${counts(official)}`);
  // exp(1/1e-4) overflows float64: the official code gets NaN and argmax picks code 0 for everyone.
  assert.ok(officialSinkhorn(cost, rows, cols, 1e-4, 50).every((v) => v === 0));
  // The log domain stays exact; a small epsilon only needs more iterations to converge.
  const converged = sinkhornAssign(cost, rows, cols, 1e-4, 20_000);
  assert.deepEqual(counts(converged), new Array<number>(cols).fill(rows / cols));
  assert.deepEqual(sinkhornAssign(cost, rows, cols, 1e-4, 20_000), converged);
  const extreme = sinkhornAssign(cost, rows, cols, 1e-12, 50);
  assert.ok(extreme.every((v) => v >= 0 && v < cols));
  assert.throws(() => sinkhornAssign(Float32Array.from([1, NaN]), 1, 2, 0.003, 5), /must be finite/);
  assert.throws(() => sinkhornAssign(new Float32Array(6), 2, 2, 0.003, 5), /expected 2 x 2/);
  assert.throws(() => sinkhornAssign(new Float32Array(4), 2, 2, 0, 5), /epsilon/);
});

test('centerCosts maps the whole matrix into [-1, 1] as the official code does', () => {
  const d = centerCosts(Float32Array.from([2, 4, 6, 10]));
  // mid = 6, amp = 4 + 1e-5
  assert.deepEqual([...d], [-4 / (4 + 1e-5), -2 / (4 + 1e-5), 0, 4 / (4 + 1e-5)]);
  assert.deepEqual([...centerCosts([5, 5])], [0, 0]);
});

test('a training step with every primitive leaks no tensors, with or without a tape', async () => {
  await tf.setBackend('wasm');
  const w = tf.variable(tf.tensor2d(randn([6, 4], 0.3).data, [6, 4])) as tf.Variable<tf.Rank.R2>;
  const codebook = tf.variable(tf.tensor2d(randn([5, 4]).data, [5, 4])) as tf.Variable<tf.Rank.R2>;
  const x = tf.tensor2d(randn([10, 6]).data, [10, 6]);
  const step = () => {
    const z = silu(linear(x, w));
    const codes = argMinRows(squaredDistances(z, codebook));
    const q = gatherRows(codebook, codes);
    const zq = straightThrough(z, q);
    sinkhorn(squaredDistances(z, codebook), 0.003, 10);
    return tf.add(tf.mean(tf.square(tf.sub(zq, z))), tf.mean(tf.square(tf.sub(q, z)))) as tf.Scalar;
  };
  const start = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    tf.tidy(() => {
      const { grads } = tf.variableGrads(step, [w, codebook]);
      w.assign(tf.sub(w, tf.mul(grads[w.name] as tf.Tensor, 0.1)));
      codebook.assign(tf.sub(codebook, tf.mul(grads[codebook.name] as tf.Tensor, 0.1)));
    });
    tf.tidy(() => {
      step(); // inference: no tape, nothing saved
    });
  }
  assert.equal(tf.memory().numTensors, start);
  w.dispose();
  codebook.dispose();
  x.dispose();
});
