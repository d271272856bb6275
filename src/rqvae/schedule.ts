/**
 * The learning-rate schedule of both sources (spec C.1): transformers'
 * get_linear_schedule_with_warmup, stepped once per batch. `step` counts the optimiser steps taken
 * before this one, so the very first update runs at factor 0, exactly as a torch LambdaLR does.
 */
export function linearWarmupDecay(step: number, warmupSteps: number, totalSteps: number): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
}
