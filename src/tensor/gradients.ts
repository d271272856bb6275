/**
 * Gradients of tfjs kernels. @tensorflow/tfjs-core 4.22 on its own registers NONE: its bundle
 * leaves out register_all_gradients (the @tensorflow/tfjs union package adds them, and its ESM
 * file cannot be imported from Node), so without this module `tf.grad(x => tf.sum(x))` fails
 * with "gradient function not found for Sum". Imported for its side effect by backend.ts.
 *
 * The formulas follow tfjs-core's own gradient configs (checked against them in
 * test/unit/tensorGradients.test.ts), with deliberate differences:
 * - BatchMatMul: explicit transposes + plain matMuls (XNNPACK runs only those on wasm; the
 *   transpose flags of tfjs's version are 10-40x slower), and broadcast batch dims are reduced.
 * - GatherV2: the table gradient is a JS scatter-add (wasm has no UnsortedSegmentSum) and the
 *   indices get a float32 zero gradient (tfjs returns the int32 indices, which fails the float32
 *   check whenever the indices depend on a variable, e.g. come from argMin).
 * - Binary ops reduce broadcast dims (tfjs forgets to for Maximum/Minimum/SquaredDifference).
 * - Abs uses sign(x) (0 at 0, as PyTorch); Tile works for any rank (tfjs: rank <= 4).
 * - Piecewise-constant ops (comparisons, floor, argMin...) get zero gradients, so a tape path
 *   through them cannot fail.
 * Kernels without a gradient here: e.g. StridedSlice (use tf.slice), Prod, Cumsum, convolutions.
 * @tensorflow/tfjs-node brings the union package, whose gradients then replace these.
 */
import * as tf from '@tensorflow/tfjs-core';

type Attrs = Record<string, unknown>;
type Thunks = Record<string, () => tf.Tensor> | Array<() => tf.Tensor>;
type GradConfig = Parameters<typeof tf.registerGradient>[0];

function register(
  kernelName: string,
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[], attrs: Attrs) => Thunks,
  save: { inputsToSave?: string[]; outputsToSave?: boolean[]; saveAllInputs?: boolean } = {},
): void {
  tf.registerGradient({ kernelName, gradFunc, ...save } as unknown as GradConfig);
}

/** Multi-output kernels (SplitV, Unpack) get an array of dys; single-output ones a tensor. */
function registerMulti(kernelName: string, gradFunc: (dys: tf.Tensor[], saved: tf.Tensor[], attrs: Attrs) => Thunks): void {
  tf.registerGradient({
    kernelName,
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: Attrs) => gradFunc(Array.isArray(dy) ? dy : [dy], saved, attrs),
  } as unknown as GradConfig);
}

const f32 = (t: tf.Tensor): tf.Tensor => (t.dtype === 'float32' ? t : tf.cast(t, 'float32'));

/** Sums a broadcast gradient back to the input's shape. */
function reduceTo(grad: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.broadcast_util.getReductionAxes(shape, grad.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(grad, axes) : grad, shape);
}

/**
 * dy of a reduction, reshaped with kept dims and broadcast over the reduced axes of x. Broadcast
 * by adding zeros: the wasm Tile kernel (tf.tile, tf.broadcastTo) takes ~27 ms for a 1024 x 768
 * output where this takes ~1 ms.
 */
function expandReduced(dy: tf.Tensor, x: tf.Tensor, axis: unknown, scale = 1): tf.Tensor {
  const axes = tf.util.parseAxisParam(axis as number | number[], x.shape);
  const kept = x.shape.map((n, i) => (axes.includes(i) ? 1 : n)); // dy with or without keepDims
  const small = scale === 1 ? tf.reshape(dy, kept) : tf.div(tf.reshape(dy, kept), scale);
  return tf.add(small, tf.zeros(x.shape, 'float32'));
}

/** Swaps the last two dims (explicitly: a transposed operand would leave XNNPACK's fast path). */
function t(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = x.rank;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1] as number, perm[r - 2] as number];
  return tf.transpose(x, perm);
}

const mm = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D);

// --- matMul -------------------------------------------------------------------------------------

register(
  'BatchMatMul',
  (dy, [a, b], attrs) => {
    const A = a as tf.Tensor;
    const B = b as tf.Tensor;
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    // C = op(A) op(B); each case written with plain matMuls of explicit transposes.
    let da: () => tf.Tensor;
    let db: () => tf.Tensor;
    if (!transposeA && !transposeB) {
      da = () => mm(dy, t(B));
      db = () => mm(t(A), dy);
    } else if (!transposeA && transposeB) {
      da = () => mm(dy, B);
      db = () => mm(t(dy), A);
    } else if (transposeA && !transposeB) {
      da = () => mm(B, t(dy));
      db = () => mm(A, dy);
    } else {
      da = () => mm(t(B), t(dy));
      db = () => mm(t(dy), t(A));
    }
    return { a: () => reduceTo(da(), A.shape), b: () => reduceTo(db(), B.shape) };
  },
  { inputsToSave: ['a', 'b'] },
);

// --- element-wise binary (with broadcasting) ---------------------------------------------------

register('Add', (dy, [a, b]) => ({ a: () => reduceTo(dy, a!.shape), b: () => reduceTo(dy, b!.shape) }), { inputsToSave: ['a', 'b'] });
register('Sub', (dy, [a, b]) => ({ a: () => reduceTo(dy, a!.shape), b: () => reduceTo(tf.neg(dy), b!.shape) }), { inputsToSave: ['a', 'b'] });
register(
  'Multiply',
  (dy, [a, b]) => ({ a: () => reduceTo(tf.mul(dy, f32(b!)), a!.shape), b: () => reduceTo(tf.mul(dy, f32(a!)), b!.shape) }),
  { inputsToSave: ['a', 'b'] },
);
register(
  'RealDiv',
  (dy, [a, b]) => ({
    a: () => reduceTo(tf.div(dy, f32(b!)), a!.shape),
    b: () => reduceTo(tf.neg(tf.div(tf.mul(dy, f32(a!)), tf.square(f32(b!)))), b!.shape),
  }),
  { inputsToSave: ['a', 'b'] },
);
register(
  'SquaredDifference',
  (dy, [a, b]) => ({
    a: () => reduceTo(tf.mul(dy, tf.mul(tf.sub(a!, b!), 2)), a!.shape),
    b: () => reduceTo(tf.mul(dy, tf.mul(tf.sub(b!, a!), 2)), b!.shape),
  }),
  { inputsToSave: ['a', 'b'] },
);
register(
  'Maximum',
  (dy, [a, b]) => ({
    a: () => reduceTo(tf.mul(dy, tf.cast(tf.greaterEqual(a!, b!), 'float32')), a!.shape),
    b: () => reduceTo(tf.mul(dy, tf.cast(tf.less(a!, b!), 'float32')), b!.shape),
  }),
  { inputsToSave: ['a', 'b'] },
);
register(
  'Minimum',
  (dy, [a, b]) => ({
    a: () => reduceTo(tf.mul(dy, tf.cast(tf.lessEqual(a!, b!), 'float32')), a!.shape),
    b: () => reduceTo(tf.mul(dy, tf.cast(tf.greater(a!, b!), 'float32')), b!.shape),
  }),
  { inputsToSave: ['a', 'b'] },
);
register(
  'Pow',
  (dy, [a, b, y]) => ({
    a: () => {
      const e = f32(b!);
      return reduceTo(tf.mul(dy, tf.mul(e, tf.pow(a!, tf.sub(e, 1)))), a!.shape);
    },
    b: () => {
      const logBase = tf.where(tf.greater(a!, 0), tf.log(a!), tf.zerosLike(a!));
      return reduceTo(tf.mul(dy, tf.mul(y!, logBase)), b!.shape);
    },
  }),
  { inputsToSave: ['a', 'b'], outputsToSave: [true] },
);
register('AddN', (dy, saved) => saved.map(() => () => tf.clone(dy)), { saveAllInputs: true });

// --- element-wise unary ---------------------------------------------------------------------------

const x1 = { inputsToSave: ['x'] };
const y1 = { outputsToSave: [true] };
register('Neg', (dy) => ({ x: () => tf.neg(dy) }));
register('Abs', (dy, [x]) => ({ x: () => tf.mul(dy, tf.sign(f32(x!))) }), x1);
register('Square', (dy, [x]) => ({ x: () => tf.mul(dy, tf.mul(f32(x!), 2)) }), x1);
register('Sqrt', (dy, [y]) => ({ x: () => tf.div(dy, tf.mul(y!, 2)) }), y1);
register('Rsqrt', (dy, [y]) => ({ x: () => tf.mul(dy, tf.mul(tf.mul(y!, tf.square(y!)), -0.5)) }), y1);
register('Reciprocal', (dy, [y]) => ({ x: () => tf.neg(tf.mul(dy, tf.square(y!))) }), y1);
register('Exp', (dy, [y]) => ({ x: () => tf.mul(dy, y!) }), y1);
register('Expm1', (dy, [x]) => ({ x: () => tf.mul(dy, tf.exp(x!)) }), x1);
register('Log', (dy, [x]) => ({ x: () => tf.div(dy, f32(x!)) }), x1);
register('Log1p', (dy, [x]) => ({ x: () => tf.div(dy, tf.add(x!, 1)) }), x1);
register('Sigmoid', (dy, [y]) => ({ x: () => tf.mul(dy, tf.mul(y!, tf.sub(1, y!))) }), y1);
register('Tanh', (dy, [y]) => ({ x: () => tf.mul(dy, tf.sub(1, tf.square(y!))) }), y1);
register('Softplus', (dy, [x]) => ({ x: () => tf.mul(dy, tf.sigmoid(x!)) }), x1);
register('Relu', (dy, [x]) => ({ x: () => tf.mul(dy, tf.step(x!)) }), x1);
register('Relu6', (dy, [x]) => ({ x: () => tf.mul(dy, tf.mul(tf.cast(tf.lessEqual(x!, 6), 'float32'), tf.step(x!))) }), x1);
register('LeakyRelu', (dy, [x], attrs) => ({ x: () => tf.where(tf.greater(x!, 0), dy, tf.mul(dy, attrs['alpha'] as number)) }), x1);
register('Elu', (dy, [y]) => ({ x: () => tf.where(tf.greater(y!, 0), dy, tf.mul(dy, tf.add(y!, 1))) }), y1);
register('Erf', (dy, [x]) => ({ x: () => tf.mul(dy, tf.mul(tf.exp(tf.neg(tf.square(x!))), 2 / Math.sqrt(Math.PI))) }), x1);
register('Sin', (dy, [x]) => ({ x: () => tf.mul(dy, tf.cos(x!)) }), x1);
register('Cos', (dy, [x]) => ({ x: () => tf.mul(dy, tf.neg(tf.sin(x!))) }), x1);
register('Identity', (dy) => ({ x: () => tf.clone(dy) }));
register('Cast', (dy) => ({ x: () => tf.clone(dy) }));
register(
  'ClipByValue',
  (dy, [x], attrs) => ({
    x: () => tf.where(tf.logicalAnd(tf.greaterEqual(x!, attrs['clipValueMin'] as number), tf.lessEqual(x!, attrs['clipValueMax'] as number)), dy, tf.zerosLike(dy)),
  }),
  x1,
);

// Piecewise-constant ops: zero gradient (float32, the input's shape).
const zeros = (x: tf.Tensor) => () => tf.zeros(x.shape, 'float32');
for (const name of ['Step', 'Sign', 'Floor', 'Ceil', 'Round', 'ZerosLike', 'OnesLike', 'ArgMax', 'ArgMin', 'IsNan', 'IsInf', 'IsFinite', 'LogicalNot']) {
  register(name, (_dy, [x]) => ({ x: zeros(x!) }), x1);
}
for (const name of ['Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr', 'FloorDiv']) {
  register(name, (_dy, [a, b]) => ({ a: zeros(a!), b: zeros(b!) }), { inputsToSave: ['a', 'b'] });
}
register('OneHot', (_dy, [indices]) => ({ indices: zeros(indices!) }), { inputsToSave: ['indices'] });

// --- reductions -----------------------------------------------------------------------------------

register('Sum', (dy, [x], attrs) => ({ x: () => expandReduced(dy, x!, attrs['axis']) }), x1);
register(
  'Mean',
  (dy, [x], attrs) => ({
    x: () => {
      const axes = tf.util.parseAxisParam(attrs['axis'] as number | number[], x!.shape);
      const count = axes.reduce((n, a) => n * (x!.shape[a] as number), 1);
      return expandReduced(dy, x!, axes, count);
    },
  }),
  x1,
);
for (const [name, axisAttr] of [
  ['Max', 'reductionIndices'],
  ['Min', 'axis'],
] as const) {
  // Every position equal to the extremum gets the full dy, as in tfjs.
  register(
    name,
    (dy, [x, y], attrs) => ({
      x: () => {
        const axes = tf.util.parseAxisParam(attrs[axisAttr] as number | number[], x!.shape);
        const keep = (s: tf.Tensor) => (s.rank < x!.rank ? tf.reshape(s, tf.backend_util.expandShapeToKeepDim(s.shape, axes)) : s);
        return tf.mul(keep(dy), tf.cast(tf.equal(x!, keep(y!)), 'float32'));
      },
    }),
    { inputsToSave: ['x'], outputsToSave: [true] },
  );
}

// --- shapes -----------------------------------------------------------------------------------------

register('Reshape', (dy, [x]) => ({ x: () => tf.reshape(dy, x!.shape) }), x1);
register('ExpandDims', (dy, [input]) => ({ input: () => tf.reshape(dy, input!.shape) }), { inputsToSave: ['input'] });
register('Transpose', (dy, _saved, attrs) => ({ x: () => tf.transpose(dy, tf.backend_util.getUndoAxesPermutation(attrs['perm'] as number[])) }));
register('Reverse', (dy, _saved, attrs) => ({ x: () => tf.reverse(dy, tf.util.parseAxisParam(attrs['dims'] as number[], dy.shape)) }));
register(
  'Concat',
  (dy, saved, attrs) => {
    const axis = tf.util.parseAxisParam(attrs['axis'] as number, (saved[0] as tf.Tensor).shape)[0] as number;
    const parts = tf.split(dy, saved.map((s) => s.shape[axis] as number), axis);
    return parts.map((p) => () => p);
  },
  { saveAllInputs: true },
);
register('Pack', (dy, _saved, attrs) => tf.unstack(dy, attrs['axis'] as number).map((p) => () => p), { saveAllInputs: true });
registerMulti('Unpack', (dys, _saved, attrs) => ({ value: () => tf.stack(dys, attrs['axis'] as number) }));
registerMulti('SplitV', (dys, _saved, attrs) => ({ x: () => tf.concat(dys, attrs['axis'] as number) }));
register(
  'Slice',
  (dy, [x], attrs) => {
    const [begin, size] = tf.slice_util.parseSliceParams(x!, attrs['begin'] as number[], attrs['size'] as number[]) as [number[], number[]];
    const paddings = x!.shape.map((n, i) => [begin[i] as number, n - (begin[i] as number) - (size[i] as number)] as [number, number]);
    return { x: () => tf.pad(dy, paddings) };
  },
  x1,
);
register(
  'PadV2',
  (dy, [x], attrs) => ({ x: () => tf.slice(dy, (attrs['paddings'] as Array<[number, number]>).map((p) => p[0]), x!.shape) }),
  x1,
);
register(
  'Tile',
  (dy, [x], attrs) => ({
    x: () => {
      // dy = [r0*s0, r1*s1, ...] with the repetition outermost: view as [r0, s0, r1, s1, ...], sum the r's.
      const reps = attrs['reps'] as number[];
      const split = x!.shape.flatMap((s, i) => [reps[i] as number, s]);
      return tf.reshape(tf.sum(tf.reshape(dy, split), reps.map((_, i) => 2 * i)), x!.shape);
    },
  }),
  x1,
);
register('BroadcastTo', (dy, _saved, attrs) => ({ x: () => reduceTo(dy, attrs['inputShape'] as number[]) }));
register(
  'Select',
  (dy, [condition]) => ({
    condition: zeros(condition!),
    t: () => tf.mul(dy, tf.cast(condition!, 'float32')),
    e: () => tf.mul(dy, tf.cast(tf.logicalNot(condition!), 'float32')),
  }),
  { inputsToSave: ['condition'] },
);

// --- softmax and gather -------------------------------------------------------------------------

register(
  'Softmax',
  (dy, [y], attrs) => ({
    logits: () => {
      const dyy = tf.mul(dy, y!);
      return tf.sub(dyy, tf.mul(tf.sum(dyy, [attrs['dim'] as number], true), y!));
    },
  }),
  y1,
);
register(
  'GatherV2',
  (dy, [x, indices], attrs) => ({
    x: () => {
      if ((attrs['batchDims'] as number) !== 0) throw new Error('gradient of tf.gather with batchDims > 0 is not supported; gather rows with batchDims 0');
      const axis = tf.util.parseAxisParam(attrs['axis'] as number, x!.shape)[0] as number;
      const outer = x!.shape.slice(0, axis).reduce((a, b) => a * b, 1);
      const rows = x!.shape[axis] as number;
      const inner = x!.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      const idx = indices!.dataSync();
      const d = dy.dataSync();
      const grad = new Float32Array(outer * rows * inner);
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < idx.length; j++) {
          const to = (o * rows + (idx[j] as number)) * inner;
          const from = (o * idx.length + j) * inner;
          for (let k = 0; k < inner; k++) grad[to + k] = (grad[to + k] as number) + (d[from + k] as number);
        }
      }
      return tf.tensor(grad, x!.shape, 'float32');
    },
    indices: zeros(indices!),
  }),
  { inputsToSave: ['x', 'indices'] },
);
