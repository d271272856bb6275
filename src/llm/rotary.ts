/**
 * Rotary position embeddings, HF convention (`rotate_half`): for a head vector x = [x1, x2]
 * (halves), x' = x * cos + [-x2, x1] * sin, with cos/sin = [cos(p f), cos(p f)] over the
 * inverse frequencies f_j = 1 / theta^(2j/dim) (divided by `factor` under linear scaling).
 * Angles are rounded to float32 as transformers computes them, so long positions match too.
 */
import { tf } from '../tensor/backend.js';
import { matMul } from '../tensor/ops.js';
import type { QwenConfig } from './config.js';

/** Inverse frequencies [dim/2], float32 as transformers' `_compute_default_rope_parameters`. */
export function inverseFrequencies(config: QwenConfig): Float32Array {
  const dim = config.head_dim;
  const half = dim / 2;
  const factor = config.rope_scaling.type === 'linear' ? config.rope_scaling.factor : 1;
  const out = new Float32Array(half);
  for (let j = 0; j < half; j++) {
    const exponent = Math.fround((2 * j) / dim);
    const inv = Math.fround(1 / Math.fround(config.rope_theta ** exponent));
    out[j] = factor === 1 ? inv : Math.fround(inv / factor);
  }
  return out;
}

export interface RopeTables {
  /** [rows, 1, head_dim]: broadcast over the heads of each row. */
  cos: tf.Tensor3D;
  sin: tf.Tensor3D;
}

/** cos/sin for one position per row (token). The caller disposes them (or runs inside tf.tidy). */
export function ropeTables(invFreq: Float32Array, positions: ArrayLike<number>): RopeTables {
  const half = invFreq.length;
  const dim = 2 * half;
  const cos = new Float32Array(positions.length * dim);
  const sin = new Float32Array(positions.length * dim);
  for (let r = 0; r < positions.length; r++) {
    const p = positions[r] as number;
    for (let j = 0; j < half; j++) {
      const angle = Math.fround((invFreq[j] as number) * p);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[r * dim + j] = c;
      cos[r * dim + j + half] = c;
      sin[r * dim + j] = s;
      sin[r * dim + j + half] = s;
    }
  }
  return { cos: tf.tensor3d(cos, [positions.length, 1, dim]), sin: tf.tensor3d(sin, [positions.length, 1, dim]) };
}

/**
 * The [dim, dim] matrix R with x @ R = rotate_half(x) = [-x2, x1]: one plain 2-D matMul (the fast
 * path on wasm) instead of slices, a negation and a concat. Entries are 0 and +-1, so it is exact.
 */
export function rotateHalfMatrix(dim: number): tf.Tensor2D {
  const half = dim / 2;
  const r = new Float32Array(dim * dim);
  for (let j = 0; j < half; j++) {
    r[(j + half) * dim + j] = -1; // out[j] = -x[j + half]
    r[j * dim + j + half] = 1; // out[j + half] = x[j]
  }
  return tf.tensor2d(r, [dim, dim]);
}

/** Applies the rotation to x [rows, heads * dim] with tables for those rows. */
export function applyRotary(x: tf.Tensor2D, heads: number, tables: RopeTables, rotateHalf: tf.Tensor2D): tf.Tensor2D {
  const [rows] = x.shape;
  const dim = rotateHalf.shape[0];
  return tf.tidy(() => {
    const rotated = tf.reshape(matMul(tf.reshape(x, [rows * heads, dim]), rotateHalf), [rows, heads, dim]);
    const y = tf.add(tf.mul(tf.reshape(x, [rows, heads, dim]), tables.cos), tf.mul(rotated, tables.sin));
    return tf.reshape(y, [rows, heads * dim]);
  });
}
