/**
 * What the optimiser trains: whole variables (full fine-tuning, LoRA matrices) or only some rows
 * of one (the new tokens' rows of the embedding and the head under LoRA). A row-sliced parameter
 * trains, decays and checkpoints only its rows: the gradient of the other rows is dropped (masked)
 * and their values are never written, so the base vocabulary stays bit-for-bit the base model's.
 */
import { tf } from '../tensor/backend.js';

export interface RowSlice {
  /** 0: rows of a [vocab, hidden] table; 1: columns of a [hidden, vocab] one. */
  axis: 0 | 1;
  index: Int32Array;
}

export interface TrainableParam {
  /** Name in checkpoints (an HF tensor name, or `lora.<module>.A` ...). */
  name: string;
  variable: tf.Variable;
  rows?: RowSlice;
}

/** Trainable values of a parameter. */
export function trainableSize(p: TrainableParam): number {
  if (!p.rows) return p.variable.size;
  const [r, c] = p.variable.shape as [number, number];
  return p.rows.index.length * (p.rows.axis === 0 ? c : r);
}

/** Shape of the trainable part as saved: [n, hidden] for row slices, whatever the table's axis. */
export function trainableShape(p: TrainableParam): number[] {
  if (!p.rows) return [...p.variable.shape];
  const [r, c] = p.variable.shape as [number, number];
  return [p.rows.index.length, p.rows.axis === 0 ? c : r];
}

/** Flat element positions of the slice inside the variable, in saved order ([n, hidden] row-major). */
export function sliceElements(p: TrainableParam): Int32Array | undefined {
  if (!p.rows) return undefined;
  const [r, c] = p.variable.shape as [number, number];
  const { axis, index } = p.rows;
  const hidden = axis === 0 ? c : r;
  const out = new Int32Array(index.length * hidden);
  index.forEach((row, i) => {
    for (let j = 0; j < hidden; j++) out[i * hidden + j] = axis === 0 ? row * c + j : j * c + row;
  });
  return out;
}

/** The trainable part of a dense array laid out like the variable (values or a gradient). */
export function takeSlice(dense: Float32Array, elements: Int32Array | undefined): Float32Array {
  if (!elements) return dense;
  const out = new Float32Array(elements.length);
  for (let i = 0; i < elements.length; i++) out[i] = dense[elements[i]!]!;
  return out;
}

/** Current trainable values (a copy). */
export function readTrainable(p: TrainableParam): Float32Array {
  const dense = (p.variable.dataSync() as Float32Array).slice();
  return takeSlice(dense, sliceElements(p));
}

/** Writes trainable values into the variable; the other rows keep their current values. */
export function writeTrainable(p: TrainableParam, values: Float32Array): void {
  if (values.length !== trainableSize(p)) throw new RangeError(`${p.name}: ${values.length} values for ${trainableSize(p)} trainable entries`);
  const elements = sliceElements(p);
  let dense = values;
  if (elements) {
    dense = (p.variable.dataSync() as Float32Array).slice();
    for (let i = 0; i < elements.length; i++) dense[elements[i]!] = values[i]!;
  }
  tf.tidy(() => p.variable.assign(tf.tensor(dense.slice(), p.variable.shape, 'float32')));
}

/** Checks names are unique and slices are in range; returns the params for chaining. */
export function checkParams(params: readonly TrainableParam[]): readonly TrainableParam[] {
  const seen = new Set<string>();
  for (const p of params) {
    if (seen.has(p.name)) throw new Error(`trainable parameter '${p.name}' listed twice`);
    seen.add(p.name);
    if (p.variable.dtype !== 'float32') throw new Error(`trainable parameter '${p.name}' is ${p.variable.dtype}, not float32`);
    if (p.rows) {
      if (p.variable.rank !== 2) throw new Error(`row slice of '${p.name}' needs a 2-D table, got [${p.variable.shape}]`);
      const extent = p.variable.shape[p.rows.axis]!;
      for (const r of p.rows.index) if (!(r >= 0 && r < extent)) throw new Error(`row ${r} of '${p.name}' is outside 0..${extent - 1}`);
      if (new Set(p.rows.index).size !== p.rows.index.length) throw new Error(`row slice of '${p.name}' repeats a row`);
    }
  }
  return params;
}
