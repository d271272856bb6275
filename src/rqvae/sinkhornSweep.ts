/**
 * The arrays of the scaling-domain Sinkhorn (kernel, u, v, column sums) and its hot loop, the row
 * step fused with the column sums. The loop runs as WebAssembly SIMD (sinkhornSweep.wat: two
 * float64 lanes, bit for bit the JS loop below) when the arrays live in that module's memory and
 * the shape suits it (an even number of columns); otherwise, and for the last rows % 8 rows, in JS.
 */
import { readFileSync } from 'node:fs';

/** Compiled once per process: a module is immutable; each workspace gets its own instance and memory. */
const SWEEP_MODULE: WebAssembly.Module | undefined = compileSweep();

function compileSweep(): WebAssembly.Module | undefined {
  const bytes = readFileSync(new URL('./sinkhornSweep.wasm', import.meta.url));
  // A runtime without wasm SIMD refuses the module: the JS loop does the same work.
  return WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : undefined;
}

interface SweepExports {
  memory: WebAssembly.Memory;
  rowStepWithColumnSums(kernel: number, v: number, u: number, colSums: number, blocks: number, cols: number, rowTarget: number): void;
}

export class SinkhornWorkspace {
  /** Row-major [rows, cols]. */
  readonly kernel: Float64Array;
  readonly u: Float64Array;
  readonly v: Float64Array;
  readonly colSums: Float64Array;
  private readonly sweep: SweepExports | undefined;

  constructor(
    readonly rows: number,
    readonly cols: number,
    useWasm = true,
  ) {
    const sweep = useWasm && cols % 2 === 0 && rows >= 8 && SWEEP_MODULE ? (new WebAssembly.Instance(SWEEP_MODULE, {}).exports as unknown as SweepExports) : undefined;
    if (sweep) {
      // v | colSums | u | kernel, each 16-byte aligned (cols is even; u is padded to an even length).
      const vAt = 0;
      const colSumsAt = vAt + cols * 8;
      const uAt = colSumsAt + cols * 8;
      const kernelAt = uAt + (rows + (rows % 2)) * 8;
      const bytes = kernelAt + rows * cols * 8;
      const have = sweep.memory.buffer.byteLength;
      if (bytes > have) sweep.memory.grow(Math.ceil((bytes - have) / 65_536));
      const buffer = sweep.memory.buffer;
      this.v = new Float64Array(buffer, vAt, cols);
      this.colSums = new Float64Array(buffer, colSumsAt, cols);
      this.u = new Float64Array(buffer, uAt, rows);
      this.kernel = new Float64Array(buffer, kernelAt, rows * cols);
    } else {
      this.v = new Float64Array(cols);
      this.colSums = new Float64Array(cols);
      this.u = new Float64Array(rows);
      this.kernel = new Float64Array(rows * cols);
    }
    this.sweep = sweep;
  }

  /** Whether the SIMD loop serves this workspace (for benchmarks and tests). */
  get simd(): boolean {
    return this.sweep !== undefined;
  }

  /**
   * The row step u[b] = rowTarget / sum_k K[b,k] v[k], fused with the column sums of diag(u) K that
   * the column step needs: one pass over the kernel, eight rows at a time.
   */
  rowStepWithColumnSums(rowTarget: number): void {
    const { kernel, v, u, colSums, rows, cols, sweep } = this;
    if (!sweep) {
      rowStepWithColumnSums(kernel, v, u, colSums, rows, cols, rowTarget);
      return;
    }
    const blocks = Math.floor(rows / 8);
    sweep.rowStepWithColumnSums(kernel.byteOffset, v.byteOffset, u.byteOffset, colSums.byteOffset, blocks, cols, rowTarget);
    for (let b = blocks * 8; b < rows; b++) rowStepOneRow(kernel, v, u, colSums, b, cols, rowTarget);
  }
}

/** The JS loop: the reference the SIMD one matches bit for bit, and the fallback. */
export function rowStepWithColumnSums(kernel: Float64Array, v: Float64Array, u: Float64Array, colSums: Float64Array, rows: number, cols: number, rowTarget: number): void {
  colSums.fill(0);
  let b = 0;
  for (; b + 7 < rows; b += 8) {
    const o0 = b * cols;
    const o1 = o0 + cols;
    const o2 = o1 + cols;
    const o3 = o2 + cols;
    const o4 = o3 + cols;
    const o5 = o4 + cols;
    const o6 = o5 + cols;
    const o7 = o6 + cols;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    let s5 = 0;
    let s6 = 0;
    let s7 = 0;
    for (let k = 0; k < cols; k++) {
      const vk = v[k] as number;
      s0 += (kernel[o0 + k] as number) * vk;
      s1 += (kernel[o1 + k] as number) * vk;
      s2 += (kernel[o2 + k] as number) * vk;
      s3 += (kernel[o3 + k] as number) * vk;
      s4 += (kernel[o4 + k] as number) * vk;
      s5 += (kernel[o5 + k] as number) * vk;
      s6 += (kernel[o6 + k] as number) * vk;
      s7 += (kernel[o7 + k] as number) * vk;
    }
    const u0 = rowTarget / s0;
    const u1 = rowTarget / s1;
    const u2 = rowTarget / s2;
    const u3 = rowTarget / s3;
    const u4 = rowTarget / s4;
    const u5 = rowTarget / s5;
    const u6 = rowTarget / s6;
    const u7 = rowTarget / s7;
    u[b] = u0;
    u[b + 1] = u1;
    u[b + 2] = u2;
    u[b + 3] = u3;
    u[b + 4] = u4;
    u[b + 5] = u5;
    u[b + 6] = u6;
    u[b + 7] = u7;
    // Left to right: the same additions, in the same order, as one row at a time.
    for (let k = 0; k < cols; k++) {
      colSums[k] =
        (colSums[k] as number) +
        (kernel[o0 + k] as number) * u0 +
        (kernel[o1 + k] as number) * u1 +
        (kernel[o2 + k] as number) * u2 +
        (kernel[o3 + k] as number) * u3 +
        (kernel[o4 + k] as number) * u4 +
        (kernel[o5 + k] as number) * u5 +
        (kernel[o6 + k] as number) * u6 +
        (kernel[o7 + k] as number) * u7;
    }
  }
  for (; b < rows; b++) rowStepOneRow(kernel, v, u, colSums, b, cols, rowTarget);
}

function rowStepOneRow(kernel: Float64Array, v: Float64Array, u: Float64Array, colSums: Float64Array, b: number, cols: number, rowTarget: number): void {
  const o = b * cols;
  let s = 0;
  for (let k = 0; k < cols; k++) s += (kernel[o + k] as number) * (v[k] as number);
  const ub = rowTarget / s;
  u[b] = ub;
  for (let k = 0; k < cols; k++) colSums[k] = (colSums[k] as number) + (kernel[o + k] as number) * ub;
}
