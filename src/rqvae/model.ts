/**
 * The RQ-VAE of spec C.1:
 *   r_0 = enc(x)                                              MLP (layers.ts)
 *   for each level l:  code_l = argmin_k ||r_{l-1} - e_k||^2   Sinkhorn on the last level in training
 *                      q_l = e_{code_l};  r_l = r_{l-1} - q_l  (quantizer.ts)
 *   z_q = z + sg(sum_l q_l - z)                               straight-through
 *   x_hat = dec(z_q)                                           L2-normalised in genrec
 *   loss = recon(x_hat, x) + quantLossWeight * sum_l ( ||sg(r_{l-1}) - q_l||^2 + beta ||r_{l-1} - sg(q_l)||^2 )
 * with sums or means per settings.lossScaling (losses.ts, spec K.10; genrec default: sums).
 * Weights are stored [in, out] (the transpose of a torch nn.Linear weight) so a layer is x . W.
 * Tensor names: encoder.<i>.weight / .bias, decoder.<i>.weight / .bias, quantizer.<l>.codebook.
 */
import { tf } from '../tensor/backend.js';
import type { KeptForBackward } from '../tensor/keptForBackward.js';
import { straightThrough } from '../tensor/ops.js';
import type { Rng } from '../tensor/rng.js';
import type { WritableTensor } from '../tensor/safetensors.js';
import { dense, l2Normalize } from './layers.js';
import { quantizationScale, reconstructionLoss } from './losses.js';
import { assignCodes, quantizationLoss } from './quantizer.js';
import type { CodeAssignment } from './quantizer.js';
import type { RqvaeSettings } from './settings.js';

type V1 = tf.Variable<tf.Rank.R1>;
type V2 = tf.Variable<tf.Rank.R2>;

export interface Layer {
  weight: V2;
  bias?: V1;
}

/** What a model is built from: the settings plus the width of the embeddings it reads. */
export interface RqvaeConfig {
  inputDim: number;
  settings: RqvaeSettings;
}

/** `train`: Sinkhorn on the last level if the settings say so; `argmin`: argmin at every level (inference). */
export type Assignment = 'train' | 'argmin';

export interface Quantized {
  /** sum of the levels' straight-through codewords [B, latent]: the decoder input. */
  zq: tf.Tensor2D;
  /** codes[l][b]: the code of item b at level l. */
  codes: Int32Array[];
  /** Codebook + commitment losses of all levels, scaled per settings.lossScaling (without quantLossWeight). */
  quantLoss: tf.Scalar;
}

export interface RqvaeOutput extends Quantized {
  xHat: tf.Tensor2D;
  reconLoss: tf.Scalar;
  /** reconLoss + quantLossWeight * quantLoss: what training minimises. */
  loss: tf.Scalar;
}

export class Rqvae {
  readonly encoder: Layer[];
  readonly decoder: Layer[];
  readonly codebooks: V2[];

  /**
   * Weights drawn from `rng` (settings.weightInit); codebooks U(0,1) as genrec (k-means replaces
   * them). Without an rng everything is zero, to be filled by loadWeights.
   */
  constructor(
    readonly config: RqvaeConfig,
    rng?: Rng,
  ) {
    const { inputDim, settings: s } = config;
    const widths = [inputDim, ...s.hiddenWidths, s.latentDim];
    const mirrored = [...widths].reverse();
    this.encoder = widths.slice(1).map((out, i) => newLayer(widths[i]!, out, s, rng));
    this.decoder = mirrored.slice(1).map((out, i) => newLayer(mirrored[i]!, out, s, rng));
    this.codebooks = Array.from({ length: s.levels }, () => {
      const values = new Float32Array(s.codebookSize * s.latentDim);
      return variableOf(tf.tensor2d(rng ? rng.fillUniform(values) : values, [s.codebookSize, s.latentDim]));
    });
  }

  get settings(): RqvaeSettings {
    return this.config.settings;
  }

  /**
   * x [B, input] -> r_0 [B, latent]: activation between layers, none after the last. With `kept`
   * (a training step) the layers keep what their backward needs instead of cloning it (layers.ts).
   */
  encode(x: tf.Tensor2D, kept?: KeptForBackward): tf.Tensor2D {
    return this.mlp(this.encoder, x, kept);
  }

  /** z_q [B, latent] -> x_hat [B, input]; genrec L2-normalises the output. */
  decode(zq: tf.Tensor2D, kept?: KeptForBackward): tf.Tensor2D {
    const out = this.mlp(this.decoder, zq, kept);
    return this.settings.normalizeOutput ? l2Normalize(out, kept) : out;
  }

  /** Codes of every level and sum_l q_l for latents z, without gradient (quantizer.ts). */
  assignCodes(z: tf.Tensor2D, assignment: Assignment): CodeAssignment {
    const s = this.settings;
    const balanced = assignment === 'train' && s.sinkhornLastLevel;
    return assignCodes(z, this.codebooks, balanced ? { epsilon: s.sinkhornEpsilon, iterations: s.sinkhornIterations } : undefined);
  }

  /** Residual quantisation of r_0 = z, with its losses. */
  quantize(z: tf.Tensor2D, assignment: Assignment): Quantized {
    const s = this.settings;
    const assigned = this.assignCodes(z, assignment);
    const zq = straightThrough(z, assigned.quantized); // z + sg(z_q - z)
    const scale = quantizationScale(s.lossScaling, z.shape[0], s.latentDim, s.levels);
    const quantLoss = quantizationLoss(z, this.codebooks, assigned, s.commitmentWeight, scale);
    return { zq, codes: assigned.codes, quantLoss };
  }

  /** `kept`: see encode; the caller releases it once the gradients are taken (step.ts). */
  forward(x: tf.Tensor2D, assignment: Assignment, kept?: KeptForBackward): RqvaeOutput {
    const quantized = this.quantize(this.encode(x, kept), assignment);
    const xHat = this.decode(quantized.zq, kept);
    const reconLoss = reconstructionLoss(xHat, x, this.settings.lossScaling, kept);
    const loss = tf.add(reconLoss, tf.mul(quantized.quantLoss, this.settings.quantLossWeight)) as tf.Scalar;
    return { ...quantized, xHat, reconLoss, loss };
  }

  /** Every trainable tensor by its checkpoint name, in a fixed order. */
  namedVariables(): Array<[string, tf.Variable]> {
    const layers = (prefix: string, list: Layer[]) =>
      list.flatMap((layer, i): Array<[string, tf.Variable]> => [
        [`${prefix}.${i}.weight`, layer.weight],
        ...(layer.bias ? [[`${prefix}.${i}.bias`, layer.bias] as [string, tf.Variable]] : []),
      ]);
    return [...layers('encoder', this.encoder), ...layers('decoder', this.decoder), ...this.codebooks.map((c, l): [string, tf.Variable] => [`quantizer.${l}.codebook`, c])];
  }

  variables(): tf.Variable[] {
    return this.namedVariables().map(([, v]) => v);
  }

  /** Copies of all weights by name (for checkpoints and model files). */
  weights(): Record<string, WritableTensor> {
    const out: Record<string, WritableTensor> = {};
    for (const [name, v] of this.namedVariables()) out[name] = { shape: [...v.shape], data: (v.dataSync() as Float32Array).slice() };
    return out;
  }

  /** Replaces every weight; `weights` must name each one with its exact shape. */
  loadWeights(weights: Readonly<Record<string, { shape: readonly number[]; data: Float32Array | Int32Array }>>): void {
    const named = this.namedVariables();
    for (const [name, v] of named) {
      const w = weights[name];
      if (w === undefined) throw new RangeError(`RQ-VAE weights lack '${name}'`);
      if (!(w.data instanceof Float32Array) || !tf.util.arraysEqual([...w.shape], v.shape) || w.data.length !== v.size) {
        throw new RangeError(`RQ-VAE weight '${name}' is [${w.shape}], expected float32 [${v.shape}]`);
      }
    }
    for (const [name, v] of named) tf.tidy(() => v.assign(tf.tensor(weights[name]!.data, v.shape)));
  }

  dispose(): void {
    for (const v of this.variables()) v.dispose();
  }

  private mlp(layers: Layer[], x: tf.Tensor2D, kept: KeptForBackward | undefined): tf.Tensor2D {
    let h = x;
    layers.forEach((layer, i) => {
      h = dense(h, layer.weight, layer.bias, i < layers.length - 1 ? this.settings.activation : 'none', kept);
    });
    return h;
  }
}

function newLayer(fanIn: number, fanOut: number, s: RqvaeSettings, rng: Rng | undefined): Layer {
  const n = fanIn * fanOut;
  if (rng === undefined) {
    const weight = variableOf(tf.zeros([fanIn, fanOut]) as tf.Tensor2D);
    return s.bias ? { weight, bias: variableOf(tf.zeros([fanOut]) as tf.Tensor1D) } : { weight };
  }
  if (s.weightInit === 'xavier-normal') {
    const std = Math.sqrt(2 / (fanIn + fanOut));
    const weight = variableOf(tf.tensor2d(rng.fillNormal(new Float32Array(n), 0, std), [fanIn, fanOut]));
    return s.bias ? { weight, bias: variableOf(tf.zeros([fanOut])) } : { weight };
  }
  // nn.Linear's default (kaiming_uniform with a = sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias alike.
  const bound = 1 / Math.sqrt(fanIn);
  const weight = variableOf(tf.tensor2d(rng.fillUniform(new Float32Array(n), -bound, bound), [fanIn, fanOut]));
  return s.bias ? { weight, bias: variableOf(tf.tensor1d(rng.fillUniform(new Float32Array(fanOut), -bound, bound))) } : { weight };
}

/** A variable holding `t`'s values; `t` itself is released (a variable keeps its own reference). */
function variableOf<R extends tf.Rank>(t: tf.Tensor<R>): tf.Variable<R> {
  const v = tf.variable(t);
  t.dispose();
  return v;
}
