/**
 * transformers' get_cosine_schedule_with_warmup (spec F: cosine, warm-up ratio 0.01): a linear
 * ramp over `warmupSteps`, then half a cosine down to 0 at `totalSteps`. `step` counts the
 * optimiser steps taken before this one, so the first update runs at factor 0, as torch's LambdaLR.
 */
export function cosineWithWarmup(step: number, warmupSteps: number, totalSteps: number): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** Warm-up steps for a ratio, as the HF Trainer computes them: ceil(ratio x total). */
export function warmupStepsFor(ratio: number, totalSteps: number): number {
  return Math.ceil(ratio * totalSteps);
}
