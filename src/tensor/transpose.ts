/**
 * x^T for a 2-D tensor, fast on the wasm backend (platform note). tfjs-wasm's 2-D Transpose kernel
 * slows down tenfold when the row count is a power of two: a [1024, 768] activation (a batch of
 * 1024) takes ~11 ms, an [837, 768] one ~1.7 ms (every write of an output row then lands in the
 * same cache set). Its 3-D kernel does not: the same values through a [rows, 2, cols/2] view with
 * perm [1, 2, 0] take ~1.6 ms. A transpose only moves values, so the result is bit for bit the same.
 */
import { tf } from './backend.js';

export function transpose2d(x: tf.Tensor2D): tf.Tensor2D {
  if (x.rank !== 2) throw new RangeError(`transpose2d: expected a 2-D tensor, got [${x.shape}]`);
  const [rows, cols] = x.shape;
  return tf.tidy(() => {
    // out[a * cols/2 + b][i] = x[i][a * cols/2 + b]
    if (cols % 2 === 0) return tf.reshape(tf.transpose(tf.reshape(x, [rows, 2, cols / 2]), [1, 2, 0]), [cols, rows]);
    // out[j][a * rows/2 + i] = x[a * rows/2 + i][j]
    if (rows % 2 === 0) return tf.reshape(tf.transpose(tf.reshape(x, [2, rows / 2, cols]), [2, 0, 1]), [cols, rows]);
    return tf.transpose(x);
  });
}
