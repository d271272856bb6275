/**
 * Fine-tuning throughput of the trainer (src/finetune) with the Qwen model (src/llm) on this
 * machine: one JSON line per preset size with
 *   tokens_per_s     real (unpadded) tokens of training sequences per second of optimiser steps
 *   ms_per_step      median wall time of an optimiser step (all its micro-batches, clipping, AdamW)
 *   peak_rss_mb      the process's peak resident memory so far
 *   gflops           achieved: the step's matMul FLOPs (below) / its time
 *   matmul_peak_gflops  a plain 1024^3 2-D matMul measured in the same run (XNNPACK's best case)
 * FLOPs per step (forward + backward = 3 x forward): for every micro-batch of B sequences padded
 * to S tokens, 6 x (linear weights of the blocks) x B x S, + 3 x 4 x layers x B x S^2 x heads x
 * head_dim (scores and weighted values, full square as computed), + 6 x hidden x vocab x
 * supervised rows (the head runs on those rows only). Embedding gathers and element-wise ops are
 * not counted, so `gflops` understates the work a little.
 * Samples are synthetic token ids shaped like LC-Rec prompts (prompt lengths uniform in a range,
 * 5 response tokens); the settings are the preset's (FINETUNE_PRESETS), one epoch of `--steps` steps.
 * Not run by CI:
 *   node --import tsx bench/llm-train.ts [--models tiny,cpu-beauty] [--steps 6] [--lora] [--batch N] [--accum N]
 */
import { parseArgs } from 'node:util';
import { FINETUNE_PRESETS } from '../src/finetune/settings.js';
import type { FinetuneSettings } from '../src/finetune/settings.js';
import { finetune } from '../src/finetune/trainer.js';
import { randomQwen, scratchConfig } from '../src/llm/random.js';
import type { ScratchModel } from '../src/llm/random.js';
import { parameterCount } from '../src/llm/weights.js';
import { tf } from '../src/tensor/backend.js';
import { initTensorEngine } from '../src/tensor/init.js';
import { matMul } from '../src/tensor/ops.js';
import { Rng } from '../src/tensor/rng.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'tiny,cpu-beauty' },
    steps: { type: 'string', default: '6' },
    lora: { type: 'boolean', default: false },
    batch: { type: 'string' },
    accum: { type: 'string' },
  },
});

/** The preset's scratch model (FINETUNE_PRESETS[..].base), a vocabulary of the size pruning leaves, LC-Rec-like prompt lengths. */
const SIZES: Record<string, { vocab: number; prompt: [number, number]; preset: 'tiny' | 'cpu-beauty' }> = {
  tiny: { vocab: 1000, prompt: [20, 100], preset: 'tiny' },
  'cpu-beauty': { vocab: 8000, prompt: [40, 200], preset: 'cpu-beauty' },
};
const modelOf = (preset: 'tiny' | 'cpu-beauty'): Partial<ScratchModel> => {
  const base = FINETUNE_PRESETS[preset].base;
  if (base.kind !== 'scratch') throw new Error(`preset ${preset} has no scratch model`);
  return base.model;
};
const RESPONSE = 5;
const steps = Number(values.steps);
const info = await initTensorEngine({ log: () => {} });

function matMulPeak(): number {
  const n = 1024;
  const rng = new Rng(1);
  const a = tf.tensor2d(rng.fillNormal(new Float32Array(n * n)), [n, n]);
  const b = tf.tensor2d(rng.fillNormal(new Float32Array(n * n)), [n, n]);
  let best = Infinity;
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    tf.tidy(() => void matMul(a, b).dataSync());
    if (i > 0) best = Math.min(best, performance.now() - t0); // the first run sets up the kernel
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / (best / 1000) / 1e9;
}

const peak = matMulPeak();
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

for (const name of values.models.split(',')) {
  const size = SIZES[name];
  if (!size) throw new Error(`unknown size '${name}' (known: ${Object.keys(SIZES).join(', ')})`);
  const config = scratchConfig(modelOf(size.preset), size.vocab, { eos: 0, pad: 0 });
  const model = randomQwen(config, 1);
  const preset = FINETUNE_PRESETS[size.preset];
  const settings: FinetuneSettings = {
    ...preset,
    epochs: 1,
    checkpointEvery: 1_000_000,
    validation: { ...preset.validation, lossSamples: 0, recallUsers: 0 },
    lora: { ...preset.lora, enabled: values.lora },
    ...(values.batch ? { batchSize: Number(values.batch) } : {}),
    ...(values.accum ? { gradAccumulation: Number(values.accum) } : {}),
  };
  const perStep = settings.batchSize * settings.gradAccumulation;
  const units = perStep * (steps + 1); // +1: the first step warms up and is not timed
  const rng = new Rng(3);
  const samples = Array.from({ length: units }, () => {
    const p = size.prompt[0] + rng.int(size.prompt[1] - size.prompt[0] + 1);
    return {
      promptIds: Int32Array.from({ length: p }, () => 1 + rng.int(size.vocab - 1)),
      responseIds: Int32Array.from({ length: RESPONSE }, () => 1 + rng.int(size.vocab - 1)),
    };
  });

  // FLOPs of one micro-batch, from its shape (see the header).
  const { hidden_size: h, num_hidden_layers: layers, num_attention_heads: heads, head_dim: headDim, intermediate_size: inter, num_key_value_heads: kv } = config;
  const linearPerToken = layers * (h * heads * headDim + 2 * h * kv * headDim + heads * headDim * h + 3 * h * inter);
  const times: number[] = [];
  const flops: number[] = [];
  const tokens: number[] = [];
  let last = performance.now();
  let stepFlops = 0;
  let stepTokens = 0;
  // Wrap the model so each forward reports its batch shape (the trainer builds the batches).
  const counting = Object.create(model) as typeof model;
  counting.hidden = (ids, batch, seq, opts) => {
    stepFlops += 6 * linearPerToken * batch * seq + 3 * 4 * layers * batch * seq * seq * heads * headDim;
    return model.hidden(ids, batch, seq, opts);
  };
  counting.headLogits = (hs, ids, opts) => {
    stepFlops += 6 * h * (ids?.length ?? config.vocab_size) * hs.shape[0];
    stepTokens += hs.shape[0];
    return model.headLogits(hs, ids, opts);
  };
  const result = await finetune(
    counting,
    { units, render: (u) => samples[u]!, eosId: 0 },
    settings,
    {
      seed: 1,
      // Under LoRA the rows of the last ids train as the semantic-ID tokens would.
      newTokenIds: Int32Array.from({ length: Math.min(1280, size.vocab >> 2) }, (_, i) => size.vocab - 1 - i),
      onProgress: ({ phase }) => {
        if (!phase.startsWith('finetune')) return;
        const now = performance.now();
        times.push(now - last);
        flops.push(stepFlops);
        tokens.push(stepTokens);
        last = now;
        stepFlops = 0;
        stepTokens = 0;
      },
    },
  );
  const timed = times.slice(1);
  const seconds = timed.reduce((a, b) => a + b, 0) / 1000;
  const median = [...timed].sort((a, b) => a - b)[Math.floor(timed.length / 2)]!;
  const realTokens = samples.slice(perStep).reduce((n, s) => n + s.promptIds.length + s.responseIds.length + 1, 0);
  console.log(
    JSON.stringify({
      model: name,
      backend: info.name,
      mode: values.lora ? 'lora' : 'full',
      parameters: parameterCount(config),
      hidden: config.hidden_size,
      layers: config.num_hidden_layers,
      vocab: config.vocab_size,
      sequences_per_step: perStep,
      max_length: settings.maxLength,
      steps: timed.length,
      supervised_tokens_per_step: Math.round(tokens.slice(1).reduce((a, b) => a + b, 0) / timed.length),
      tokens_per_s: Math.round(realTokens / seconds),
      ms_per_step: Math.round(median),
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      gflops: round(flops.slice(1).reduce((a, b) => a + b, 0) / seconds / 1e9),
      matmul_peak_gflops: round(peak),
      loss_first: round(result.log.steps[0]!.loss, 3),
      loss_last: round(result.log.steps.at(-1)!.loss, 3),
    }),
  );
  result.lora?.dispose();
  model.dispose();
}
