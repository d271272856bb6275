/**
 * One optimisation step, in the official trainer's order: forward (Sinkhorn on the last level),
 * backward, clip the global gradient norm, AdamW update.
 */
import { tf } from '../tensor/backend.js';
import { KeptForBackward } from '../tensor/keptForBackward.js';
import { clipScale, globalNorm } from './adamw.js';
import type { AdamW } from './adamw.js';
import type { Rqvae } from './model.js';

export interface StepResult {
  loss: number;
  reconLoss: number;
  quantLoss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

export function trainingStep(model: Rqvae, optimizer: AdamW, x: tf.Tensor2D, learningRate: number): StepResult {
  const params = model.variables();
  let reconLoss = NaN;
  let quantLoss = NaN;
  // Activations the backward reads, kept for this step instead of cloned (layers.ts).
  const kept = new KeptForBackward();
  kept.lend(x); // the caller's batch outlives the step: the first layer reads it without a clone
  try {
    return tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const out = model.forward(x, 'train', kept);
        // Read inside: tf.variableGrads disposes everything but the returned loss.
        reconLoss = out.reconLoss.dataSync()[0] as number;
        quantLoss = out.quantLoss.dataSync()[0] as number;
        return out.loss;
      }, params);
      kept.release(); // before the update, so the old activations leave the heap first
      const host = params.map((p) => (grads[p.name] ? (grads[p.name]!.dataSync() as Float32Array) : new Float32Array(p.size)));
      const gradNorm = globalNorm(host);
      optimizer.apply(host, learningRate, clipScale(gradNorm, model.settings.clipNorm));
      return { loss: value.dataSync()[0] as number, reconLoss, quantLoss, gradNorm };
    });
  } finally {
    kept.release();
  }
}
