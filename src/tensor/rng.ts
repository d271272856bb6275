/**
 * The one random generator of the pipeline: xoshiro128** (Blackman & Vigna), seeded through
 * splitmix32. Every stage draws from an Rng built from `deriveSeed(rootSeed, label)`, so runs are
 * reproducible and a checkpoint can save `state()` and resume the exact same stream.
 * Nothing in src/ may use Math.random, and no tf.random* op without going through here
 * (tf.randomNormal without a seed uses Math.random).
 */

/** What a checkpoint stores to resume a stream; plain JSON. */
export interface RngState {
  algorithm: 'xoshiro128**';
  /** Four unsigned 32-bit words, never all zero. */
  words: [number, number, number, number];
}

const TWO_POW_32 = 0x1_0000_0000;
const TWO_POW_53 = 2 ** 53;

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed`: any safe integer (negative ones included); both 32-bit halves feed the state. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Rng seed must be a safe integer, got ${seed}`);
    const low = seed >>> 0;
    const high = Math.floor(seed / TWO_POW_32) >>> 0;
    // splitmix32 spreads a small seed over all 128 bits, so seeds 1 and 2 give unrelated streams.
    const mix = splitmix32((low ^ Math.imul(high, 0x9e3779b9)) >>> 0);
    this.s0 = mix();
    this.s1 = mix();
    this.s2 = mix();
    this.s3 = mix();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  static fromState(state: RngState): Rng {
    const words = state.words;
    const ok =
      state.algorithm === 'xoshiro128**' &&
      Array.isArray(words) &&
      words.length === 4 &&
      words.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32) &&
      words.some((w) => w !== 0);
    if (!ok) throw new RangeError(`not a saved xoshiro128** state: ${JSON.stringify(state)}`);
    const rng = new Rng(0);
    [rng.s0, rng.s1, rng.s2, rng.s3] = words;
    return rng;
  }

  state(): RngState {
    return { algorithm: 'xoshiro128**', words: [this.s0, this.s1, this.s2, this.s3] };
  }

  /** Next unsigned 32-bit integer. */
  uint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    this.s3 >>>= 0;
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits (two draws), like Python's random.random(). */
  float(): number {
    const high = this.uint32() >>> 5; // 27 bits
    const low = this.uint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / TWO_POW_53;
  }

  /** Uniform integer in [0, n), unbiased (rejection of the last partial block), n <= 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > TWO_POW_32) throw new RangeError(`int(n) needs an integer 1 <= n <= 2^32, got ${n}`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.uint32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal by Box-Muller (one value per two uniforms, no cached spare, so the state stays four words). */
  normal(mean = 0, std = 1): number {
    const u1 = 1 - this.float(); // (0, 1]: log is finite
    const u2 = this.float();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Fills `out` with N(mean, std^2) draws: weight initialisation without tf.random*. */
  fillNormal<T extends Float32Array | Float64Array>(out: T, mean = 0, std = 1): T {
    for (let i = 0; i < out.length; i++) out[i] = this.normal(mean, std);
    return out;
  }

  /** Fills `out` with uniform draws in [low, high). */
  fillUniform<T extends Float32Array | Float64Array>(out: T, low = 0, high = 1): T {
    const span = high - low;
    for (let i = 0; i < out.length; i++) out[i] = low + span * this.float();
    return out;
  }

  /** Fisher-Yates in place; returns the same array. */
  shuffle<A extends { length: number; [i: number]: unknown }>(array: A): A {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** `k` distinct integers from [0, n) in random order (partial Fisher-Yates over a sparse map: O(k)). */
  sample(n: number, k: number): Int32Array {
    if (!Number.isInteger(n) || !Number.isInteger(k) || k < 0 || k > n || n > 2 ** 31 - 1) {
      throw new RangeError(`sample(n, k) needs integers 0 <= k <= n < 2^31, got n=${n}, k=${k}`);
    }
    const swapped = new Map<number, number>();
    const out = new Int32Array(k);
    for (let i = 0; i < k; i++) {
      const j = i + this.int(n - i);
      const atJ = swapped.get(j) ?? j;
      swapped.set(j, swapped.get(i) ?? i);
      out[i] = atJ;
    }
    return out;
  }
}

/**
 * A stable 32-bit seed for one purpose (stage, level, epoch...) of a run: FNV-1a over the label's
 * UTF-8 bytes, combined with the root seed and finished with a murmur3 mix. Same inputs, same seed
 * on every platform and Node version; different labels give independent streams.
 */
export function deriveSeed(rootSeed: number, label: string): number {
  if (!Number.isSafeInteger(rootSeed)) throw new RangeError(`root seed must be a safe integer, got ${rootSeed}`);
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(label)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  h ^= fmix32(rootSeed >>> 0);
  h = fmix32((h ^ Math.imul(Math.floor(rootSeed / TWO_POW_32) >>> 0, 0x85ebca6b)) >>> 0);
  return h >>> 0;
}

/** Shorthand: the Rng for one labelled purpose of a run. */
export function rngFor(rootSeed: number, label: string): Rng {
  return new Rng(deriveSeed(rootSeed, label));
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** murmur3's 32-bit finaliser: spreads every input bit over the output. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
