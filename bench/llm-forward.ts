/**
 * Forward throughput of the Qwen model (src/llm) on this machine: one JSON line per model size
 * with `tokens_per_s` of `hidden` + the full-vocabulary head over a batch, and `train_step_ms`
 * of one training-sized step (forward, cross-entropy over the full head, backward w.r.t. every
 * weight), and decoding figures of a KV-cache session as beam search uses it (`prefill_ms` of
 * `batch` prompts of `seq` tokens, `decode_step_ms` of one advance + nextLogits over `beam` rows
 * per prompt), each the fastest of a few runs (other processes share the cores). Sizes:
 *   tiny        hidden 64, 2 layers, 4 heads / 2 kv heads, intermediate 128, vocab 1,000
 *   cpu-beauty  hidden 256, 4 layers, 4 heads / 2 kv heads, intermediate 768, vocab 8,000
 *               (the from-scratch size with a vocabulary pruned to the dataset's tokens)
 * Not run by CI:
 *   node --import tsx bench/llm-forward.ts [--models tiny,cpu-beauty] [--batch 8] [--seq 128] [--repeats 3] [--no-train]
 *     [--hidden N --layers N --heads N --kv-heads N --intermediate N --vocab N]   (a custom size, named "custom")
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { initTensorEngine } from '../src/tensor/init.js';
import { tf } from '../src/tensor/backend.js';
import { customOp } from '../src/tensor/customOp.js';
import { gatherRows } from '../src/tensor/ops.js';
import { Rng } from '../src/tensor/rng.js';
import { randomQwen, scratchConfig } from '../src/llm/random.js';
import type { ScratchModel } from '../src/llm/random.js';
import { parameterCount } from '../src/llm/weights.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'tiny,cpu-beauty' },
    batch: { type: 'string', default: '8' },
    seq: { type: 'string', default: '128' },
    repeats: { type: 'string', default: '3' },
    'no-train': { type: 'boolean', default: false },
    beam: { type: 'string', default: '20' },
    hidden: { type: 'string' },
    layers: { type: 'string' },
    heads: { type: 'string' },
    'kv-heads': { type: 'string' },
    intermediate: { type: 'string' },
    vocab: { type: 'string' },
  },
});

const SIZES: Record<string, { settings: Partial<ScratchModel>; vocab: number }> = {
  tiny: { settings: { hiddenSize: 64, layers: 2, heads: 4, kvHeads: 2, intermediateSize: 128 }, vocab: 1000 },
  'cpu-beauty': { settings: { hiddenSize: 256, layers: 4, heads: 4, kvHeads: 2, intermediateSize: 768 }, vocab: 8000 },
};
if (values.hidden) {
  SIZES['custom'] = {
    settings: {
      hiddenSize: Number(values.hidden),
      layers: Number(values.layers ?? 4),
      heads: Number(values.heads ?? 4),
      kvHeads: Number(values['kv-heads'] ?? 2),
      intermediateSize: Number(values.intermediate ?? 3 * Number(values.hidden)),
    },
    vocab: Number(values.vocab ?? 8000),
  };
}
const batch = Number(values.batch);
const seq = Number(values.seq);
const repeats = Number(values.repeats);
const beam = Number(values.beam);
const names = values.hidden ? ['custom'] : values.models.split(',');

const info = await initTensorEngine({ log: () => {} });

/** Fastest wall and CPU time of `repeats` runs after a warm-up (CPU time is steadier when other processes share the cores). */
function fastest(fn: () => void): { ms: number; cpuMs: number } {
  fn(); // warm-up: kernels set up, heap grown
  let ms = Infinity;
  let cpuMs = Infinity;
  for (let i = 0; i < repeats; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    ms = Math.min(ms, performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuMs = Math.min(cpuMs, (c.user + c.system) / 1000);
  }
  return { ms, cpuMs };
}

/** log-sum-exp per row with the gradient softmax(x) * dy (tf.logSumExp differentiates through tf.max: slow on wasm). */
function logSumExpRows(x: tf.Tensor2D): tf.Tensor1D {
  return customOp({
    inputs: { x },
    forward: (save) => {
      save([x]);
      return tf.tidy(() => tf.logSumExp(x, 1));
    },
    backward: (dy, [saved]) => ({ x: () => tf.mul(tf.softmax(saved as tf.Tensor2D), tf.reshape(dy, [-1, 1])) }),
  }) as tf.Tensor1D;
}

for (const name of names) {
  const size = SIZES[name];
  if (!size) throw new Error(`unknown model size '${name}' (known: ${Object.keys(SIZES).join(', ')})`);
  const config = scratchConfig(size.settings, size.vocab);
  const model = randomQwen(config, 1);
  const rng = new Rng(2);
  const ids = Int32Array.from({ length: batch * seq }, () => rng.int(size.vocab));
  const targets = Int32Array.from({ length: batch * seq }, () => rng.int(size.vocab));

  const forward = fastest(() => tf.tidy(() => void model.headLogits(model.hidden(ids, batch, seq)).dataSync()));
  const figures: Record<string, unknown> = {
    model: name,
    backend: info.name,
    parameters: parameterCount(config),
    hidden: config.hidden_size,
    layers: config.num_hidden_layers,
    heads: config.num_attention_heads,
    kv_heads: config.num_key_value_heads,
    intermediate: config.intermediate_size,
    vocab: config.vocab_size,
    batch,
    seq,
    forward_ms: Math.round(forward.ms),
    forward_cpu_ms: Math.round(forward.cpuMs),
    tokens_per_s: Math.round((batch * seq) / (forward.ms / 1000)),
    // Per second of this process's CPU time: what an idle core would give (the wall figure counts waits for busy cores).
    tokens_per_cpu_s: Math.round((batch * seq) / (forward.cpuMs / 1000)),
  };
  if (!values['no-train']) {
    // Cross-entropy with the target logit gathered (no oneHot: slow on wasm), as a trainer computes it.
    const vars = [...model.weights.values()];
    const flat = Int32Array.from(targets, (t, i) => i * size.vocab + t);
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const logits = model.headLogits(model.hidden(ids, batch, seq));
          const picked = gatherRows(tf.reshape(logits, [batch * seq * size.vocab, 1]) as tf.Tensor2D, flat);
          return tf.mean(tf.sub(logSumExpRows(logits), tf.reshape(picked, [batch * seq]))) as tf.Scalar;
        }, vars);
        value.dataSync();
        for (const g of Object.values(grads)) g.dataSync();
      });
    const timed = fastest(step);
    figures['train_step_ms'] = Math.round(timed.ms);
    figures['train_step_cpu_ms'] = Math.round(timed.cpuMs);
    figures['train_tokens_per_s'] = Math.round((batch * seq) / (timed.ms / 1000));
  }
  // Decoding: prefill the prompts, then steps that widen every prompt to `beam` rows.
  const prompts = Array.from({ length: batch }, (_, b) => ids.subarray(b * seq, (b + 1) * seq));
  const parents = Int32Array.from({ length: batch * beam }, (_, j) => Math.floor(j / beam));
  const tokens = Int32Array.from({ length: batch * beam }, () => rng.int(size.vocab));
  const allowed = Array.from({ length: batch * beam }, () => Int32Array.from({ length: 256 }, (_, i) => i));
  let prefillMs = Infinity;
  let stepMs = Infinity;
  for (let r = 0; r < Math.max(2, repeats); r++) {
    const t0 = performance.now();
    const session = await model.sessions.start(prompts);
    await session.nextLogits(prompts.map(() => allowed[0]!));
    const t1 = performance.now();
    await session.advance(parents, tokens);
    await session.nextLogits(allowed);
    const t2 = performance.now();
    await session.advance(Int32Array.from(parents, (_, j) => j), tokens); // steady state: rows continue
    await session.nextLogits(allowed);
    const t3 = performance.now();
    session.dispose();
    if (r > 0) {
      prefillMs = Math.min(prefillMs, t1 - t0);
      stepMs = Math.min(stepMs, t3 - t2, t2 - t1);
    }
  }
  figures['load_average_1m'] = Math.round(loadavg()[0]! * 10) / 10;
  figures['beam'] = beam;
  figures['prefill_ms'] = Math.round(prefillMs);
  figures['decode_step_ms'] = Math.round(stepMs);
  console.log(JSON.stringify(figures));
  model.dispose();
}
