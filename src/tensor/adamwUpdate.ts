/**
 * The AdamW update rule of torch.optim.AdamW (single-tensor path), decoupled weight decay, on
 * host Float32Arrays, shared by the RQ-VAE optimiser (src/rqvae/adamw.ts) and the fine-tuning one
 * (src/finetune/adamw.ts, which trains slices of parameters):
 *   p <- p * (1 - lr * wd)
 *   m <- m + (1 - b1) (g - m);   v <- b2 v + (1 - b2) g^2
 *   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * Gradient clipping by global norm (torch clip_grad_norm_) enters as a scale on the gradients.
 */

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
}

/** The optimiser's state, aligned with the parameter list it was built for. */
export interface AdamWMoments {
  /** Updates applied so far (torch's `step`, used by the bias corrections). */
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

/** What one update step shares across parameters: learning rate with bias correction, decay. */
export interface AdamWStep {
  options: AdamWOptions;
  stepSize: number;
  bc2Sqrt: number;
  decay: number;
  gradScale: number;
}

/** The factors of update number `step` (1-based) at learning rate `lr`. */
export function adamwStep(options: AdamWOptions, step: number, lr: number, gradScale: number): AdamWStep {
  return {
    options,
    stepSize: lr / (1 - options.beta1 ** step),
    bc2Sqrt: Math.sqrt(1 - options.beta2 ** step),
    decay: 1 - lr * options.weightDecay,
    gradScale,
  };
}

/**
 * The element-wise update of parameter values p with gradient g * gradScale: moments m, v in
 * place, new values into `next`. A function of its own with plain-number arguments: V8 compiles
 * the loop once, fully optimised, instead of inside a closure per parameter (3x slower).
 */
export function updateParameter(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, next: Float32Array, step: AdamWStep): void {
  const { beta1, beta2, epsilon } = step.options;
  updateLoop(p, g, m, v, next, step.gradScale, beta1, beta2, step.decay, step.stepSize, step.bc2Sqrt, epsilon);
}

function updateLoop(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  next: Float32Array,
  gradScale: number,
  beta1: number,
  beta2: number,
  decay: number,
  stepSize: number,
  bc2Sqrt: number,
  epsilon: number,
): void {
  const oneMinusBeta1 = 1 - beta1;
  const oneMinusBeta2 = 1 - beta2;
  for (let j = 0; j < p.length; j++) {
    const gj = (g[j] as number) * gradScale;
    const mOld = m[j] as number;
    // Moments are kept in float32 as torch does: round before using them.
    const mj = Math.fround(mOld + oneMinusBeta1 * (gj - mOld));
    const vj = Math.fround(beta2 * (v[j] as number) + oneMinusBeta2 * gj * gj);
    m[j] = mj;
    v[j] = vj;
    next[j] = (p[j] as number) * decay - (stepSize * mj) / (Math.sqrt(vj) / bc2Sqrt + epsilon);
  }
}

/** sqrt(sum of all squared gradient entries), as torch computes total_norm (norm type 2). */
export function globalNorm(grads: readonly Float32Array[]): number {
  let sum = 0;
  for (const g of grads) sum = addSquares(sum, g);
  return Math.sqrt(sum);
}

/** sum + g[0]^2 + g[1]^2 + ... in that order (a loop of its own, for V8). */
function addSquares(sum: number, g: Float32Array): number {
  let s = sum;
  for (let j = 0; j < g.length; j++) s += (g[j] as number) * (g[j] as number);
  return s;
}

/** torch clip_grad_norm_'s factor: min(1, maxNorm / (norm + 1e-6)). */
export function clipScale(norm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (norm + 1e-6));
}
