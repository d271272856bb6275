/**
 * Which template sample i uses in epoch e: a pure function of (run seed, epoch, i), uniform over
 * the sample's eligible templates (spec E.2: one template drawn per sample per epoch). Nothing is
 * carried from one call to the next, so the choice does not depend on the shuffling order, on
 * which samples were rendered before, or on where a resumed run restarts: `i` is the row of the
 * sample in its table, not its position in the shuffled epoch.
 */
import { deriveSeed, fmix32, Rng } from '../tensor/rng.js';

const LABEL = 'prompts/template-draw';

/** A drawer bound to one run seed (derives the stream's base seed once). */
export function templateDrawer(runSeed: number): (epoch: number, index: number, eligible: ArrayLike<number>) => number {
  const base = deriveSeed(runSeed, LABEL);
  return (epoch, index, eligible) => {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`epoch must be an integer >= 0, got ${epoch}`);
    if (!Number.isSafeInteger(index) || index < 0 || index >= 2 ** 32) throw new RangeError(`sample index must be an integer in [0, 2^32), got ${index}`);
    if (eligible.length === 0) throw new RangeError(`sample ${index} has no eligible template`);
    if (eligible.length === 1) return eligible[0] as number;
    // Two chained murmur finalisers give each (epoch, index) its own well-mixed 32-bit seed; an
    // Rng on it draws without modulo bias.
    const seed = fmix32((fmix32((base ^ epoch) >>> 0) ^ Math.imul(index, 0x9e3779b1)) >>> 0);
    return eligible[new Rng(seed).int(eligible.length)] as number;
  };
}

/** The template of sample `index` in `epoch` (see templateDrawer for repeated calls). */
export function drawTemplate(runSeed: number, epoch: number, index: number, eligible: ArrayLike<number>): number {
  return templateDrawer(runSeed)(epoch, index, eligible);
}
