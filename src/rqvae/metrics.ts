/**
 * Quality of a set of semantic IDs (code tuples [rows x levels], row-major), as logged at every
 * evaluation (spec C.3).
 */

export interface CodeMetrics {
  items: number;
  distinctTuples: number;
  /** (N - distinct tuples) / N: the official trainer's collision rate (OFF:index/trainer.py). */
  collisionRate: number;
  /** Items whose full tuple some other item shares, / N (each member of a colliding group counts). */
  collidingItemRate: number;
  /** Size of the largest group of items sharing one tuple (1 when there are no collisions). */
  largestGroup: number;
  /** Per level: distinct codes used / codebookSize. */
  usage: number[];
  /** Per level: exp(entropy) of the code distribution, from 1 (one code) to codebookSize (uniform). */
  perplexity: number[];
}

export function codeMetrics(codes: Int32Array, levels: number, codebookSize: number): CodeMetrics {
  if (codes.length % levels !== 0) throw new RangeError(`codeMetrics: ${codes.length} codes are not rows of ${levels} levels`);
  const items = codes.length / levels;
  const groups = new Map<string, number>();
  for (let i = 0; i < items; i++) {
    const key = codes.subarray(i * levels, (i + 1) * levels).join(',');
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  let colliding = 0;
  let largestGroup = items === 0 ? 0 : 1;
  for (const size of groups.values()) {
    if (size > 1) colliding += size;
    if (size > largestGroup) largestGroup = size;
  }
  const usage: number[] = [];
  const perplexity: number[] = [];
  for (let l = 0; l < levels; l++) {
    const counts = new Float64Array(codebookSize);
    for (let i = 0; i < items; i++) {
      const c = codes[i * levels + l] as number;
      if (!(c >= 0 && c < codebookSize)) throw new RangeError(`codeMetrics: code ${c} of item ${i}, level ${l} is outside 0..${codebookSize - 1}`);
      counts[c] = (counts[c] as number) + 1;
    }
    let used = 0;
    let entropy = 0;
    for (const n of counts) {
      if (n === 0) continue;
      used++;
      const p = n / items;
      entropy -= p * Math.log(p);
    }
    usage.push(used / codebookSize);
    perplexity.push(items === 0 ? 0 : Math.exp(entropy));
  }
  return {
    items,
    distinctTuples: groups.size,
    collisionRate: items === 0 ? 0 : (items - groups.size) / items,
    collidingItemRate: items === 0 ? 0 : colliding / items,
    largestGroup,
    usage,
    perplexity,
  };
}
