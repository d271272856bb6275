/**
 * Sinkhorn-Knopp "uniform semantic mapping" for the last RQ-VAE level (spec C.2), in plain JS
 * float64 and in the log domain, so a tiny epsilon cannot overflow: the official code computes
 * exp(-D'/0.003) (up to e^333) in float64 and only warns when it gets NaN/Inf.
 *
 * Mirrors OFF:index/models/vq.py + layers.py::sinkhorn_algorithm step by step:
 *  1. D' = (D - mid) / amp with mid = (max D + min D) / 2, amp = max D - mid + 1e-5, over the whole
 *     matrix (center_distance_for_constraint), so D' lies in [-1, 1].
 *  2. Q = exp(-D'/eps) / sum. The global normalisation cancels in the first row step and is skipped.
 *  3. `iterations` times: rows scaled to sum 1/B, THEN columns scaled to sum 1/K (this order).
 *  4. code = argmax over each row (Q *= B does not move it); ties go to the lowest index, as torch.
 * In potentials: log Q[b,k] = C[b,k] + f[b] + g[k] with C = -D'/eps; the row step sets
 * f[b] = -log B - logsumexp_k(C[b,k] + g[k]); the column step g[k] = -log K - logsumexp_b(C[b,k] + f[b]).
 * The official code centres D in float32 before casting to float64; here everything is float64.
 *
 * Speed (the budget of a whole RQ-VAE step is ~300 ms): with eps = 0.003 only a few percent of the
 * terms of each logsumexp are within e^-50 of its maximum; the rest cannot change a float64 sum.
 * Each row (column) keeps the list of its terms that could matter, rebuilt when the potentials
 * have moved enough to change that list, so most sweeps touch only those terms.
 */

/** exp(-50) ~ 2e-22: even summed over 10^5 terms it is below float64 rounding of a sum >= 1. */
const NEGLIGIBLE = -50;
/** Extra room of a candidate list: it stays a superset of the terms that matter until the potentials drift this far. */
const MARGIN = 30;

/** Step 1 of the official code: centre and scale the whole cost matrix into [-1, 1]. */
export function centerCosts(cost: ArrayLike<number>): Float64Array {
  const { mid, amp } = costCentring(cost);
  const out = new Float64Array(cost.length);
  for (let i = 0; i < cost.length; i++) out[i] = ((cost[i] as number) - mid) / amp;
  return out;
}

/** The centring of step 1: D' = (D - mid) / amp. Throws on a cost that is not finite. */
export function costCentring(cost: ArrayLike<number>): { mid: number; amp: number } {
  let max = -Infinity;
  let min = Infinity;
  for (let i = 0; i < cost.length; i++) {
    const v = cost[i] as number;
    if (!Number.isFinite(v)) throw new RangeError(`sinkhorn: cost ${i} is ${v}; costs must be finite`);
    if (v > max) max = v;
    if (v < min) min = v;
  }
  const mid = (max + min) / 2;
  return { mid, amp: max - mid + 1e-5 };
}

/**
 * Balanced assignment of `rows` items to `cols` codes from a row-major [rows, cols] cost matrix
 * (squared distances). Returns the code of each row.
 */
export function sinkhornAssign(cost: ArrayLike<number>, rows: number, cols: number, epsilon: number, iterations: number): Int32Array {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows <= 0 || cols <= 0 || cost.length !== rows * cols) {
    throw new RangeError(`sinkhorn: cost has ${cost.length} values, expected ${rows} x ${cols}`);
  }
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) throw new RangeError(`sinkhorn: epsilon must be > 0, got ${epsilon}`);
  if (!Number.isInteger(iterations) || iterations < 0) throw new RangeError(`sinkhorn: iterations must be an integer >= 0, got ${iterations}`);

  // C = -D'/eps, row-major for the row step and column-major for the column step.
  const c = centerCosts(cost);
  const ct = new Float64Array(c.length);
  for (let b = 0; b < rows; b++) {
    for (let k = 0; k < cols; k++) {
      const v = -(c[b * cols + k] as number) / epsilon;
      c[b * cols + k] = v;
      ct[k * rows + b] = v;
    }
  }
  const f = new Float64Array(rows);
  const g = new Float64Array(cols);
  const rowStep = new LogSumExps(c, rows, cols);
  const colStep = new LogSumExps(ct, cols, rows);
  const logRows = Math.log(rows);
  const logCols = Math.log(cols);
  for (let it = 0; it < iterations; it++) {
    rowStep.compute(g, f, -logRows);
    colStep.compute(f, g, -logCols);
  }

  return argmaxWithColumnOffsets(c, rows, cols, g);
}

/** codes[b] = argmax_k (c[b,k] + offsets[k]): the assignment read off a transport plan. */
export function argmaxWithColumnOffsets(c: ArrayLike<number>, rows: number, cols: number, offsets: ArrayLike<number>): Int32Array {
  const codes = new Int32Array(rows);
  for (let b = 0; b < rows; b++) {
    const o = b * cols;
    let best = -Infinity;
    let arg = 0;
    for (let k = 0; k < cols; k++) {
      const v = (c[o + k] as number) + (offsets[k] as number);
      if (v > best) {
        best = v;
        arg = k;
      }
    }
    codes[b] = arg;
  }
  return codes;
}

/**
 * out[i] = offset - log sum_j exp(values[i, j] + potential[j]) for each line i of a [lines, len]
 * matrix, over candidate lists.
 *
 * Why the lists stay exact: a list is built with every term within NEGLIGIBLE - MARGIN of its
 * line's maximum. Since then each potential rose by at most `up` and fell by at most `down`, so an
 * excluded term rose by at most `up` while the old maximum term fell by at most `down`: as long as
 * up + down <= MARGIN, excluded terms stay below e^-50 of the maximum, i.e. negligible.
 */
class LogSumExps {
  private readonly start: Int32Array;
  private readonly index: Int32Array;
  private readonly snapshot: Float64Array;
  /** Each line's maximum at the last call: the shift for the next one. */
  private readonly max: Float64Array;
  private built = false;

  constructor(
    private readonly values: Float64Array,
    private readonly lines: number,
    private readonly len: number,
  ) {
    this.start = new Int32Array(lines + 1);
    this.index = new Int32Array(lines * len);
    this.snapshot = new Float64Array(len);
    this.max = new Float64Array(lines);
  }

  compute(potential: Float64Array, out: Float64Array, offset: number): void {
    let up = 0;
    let down = 0;
    for (let j = 0; j < this.len; j++) {
      const d = (potential[j] as number) - (this.snapshot[j] as number);
      if (d > up) up = d;
      if (-d > down) down = -d;
    }
    if (!this.built || up + down > MARGIN) {
      this.rebuild(potential, out, offset);
      return;
    }
    const { values, index, start, max, len } = this;
    for (let i = 0; i < this.lines; i++) {
      const base = i * len;
      const from = start[i] as number;
      const to = start[i + 1] as number;
      // Shift by last call's maximum: one sweep, exp only for terms that count.
      const guess = max[i] as number;
      const threshold = guess + NEGLIGIBLE;
      let m = -Infinity;
      let s = 0;
      for (let t = from; t < to; t++) {
        const j = index[t] as number;
        const v = (values[base + j] as number) + (potential[j] as number);
        if (v > threshold) {
          s += Math.exp(v - guess);
          if (v > m) m = v;
        }
      }
      const drift = m - guess;
      if (!(drift <= 600 && drift >= -5)) {
        // The maximum moved too far for that shift (overflow, or dropped terms that count): exact.
        m = -Infinity;
        for (let t = from; t < to; t++) {
          const j = index[t] as number;
          const v = (values[base + j] as number) + (potential[j] as number);
          if (v > m) m = v;
        }
        s = 0;
        for (let t = from; t < to; t++) {
          const j = index[t] as number;
          const e = (values[base + j] as number) + (potential[j] as number) - m;
          if (e > NEGLIGIBLE) s += Math.exp(e);
        }
        max[i] = m;
        out[i] = offset - (m + Math.log(s));
        continue;
      }
      max[i] = m;
      out[i] = offset - (guess + Math.log(s));
    }
  }

  /** Exact logsumexps over whole lines, collecting each line's candidates on the way. */
  private rebuild(potential: Float64Array, out: Float64Array, offset: number): void {
    const { values, index, start, max, len } = this;
    let n = 0;
    for (let i = 0; i < this.lines; i++) {
      const base = i * len;
      let m = -Infinity;
      for (let j = 0; j < len; j++) {
        const v = (values[base + j] as number) + (potential[j] as number);
        if (v > m) m = v;
      }
      const keep = m + NEGLIGIBLE - MARGIN;
      let s = 0;
      start[i] = n;
      for (let j = 0; j < len; j++) {
        const e = (values[base + j] as number) + (potential[j] as number) - m;
        if (e + m >= keep) index[n++] = j;
        if (e > NEGLIGIBLE) s += Math.exp(e);
      }
      max[i] = m;
      out[i] = offset - (m + Math.log(s));
    }
    start[this.lines] = n;
    this.snapshot.set(potential);
    this.built = true;
  }
}
