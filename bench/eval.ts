/**
 * Generative evaluation speed (issue 8): `users_per_s` of the trie-constrained beam search at
 * beam 10 through the real Qwen model and its KV-cache decode sessions (src/llm), and the share of
 * wall time spent in the model (session calls) vs the search itself. Also times the search alone
 * over a model-free session (constant logits), i.e. the search's own ceiling.
 *
 * What is real: the Beauty users and their leave-one-out test histories (LCREC_DATASETS or
 * --dataset, LC-Rec format, ingested to a temp dir), the model code, the search and evaluation
 * code. What is synthetic, until a trained run exists: random weights (randomQwen, same cost as
 * trained ones), semantic IDs (4 x 256 codes for every item, the cpu-beauty shape: uniform, or
 * clustered like RQ-VAE output, `--ids`), and the prompt tokens (45 template tokens + 5 per history item, <= 20 items, the length
 * of the cpu-beauty seqrec prompts: SFT header, instruction, 4 code tokens and ", " per item).
 * Model shapes: the scratch base models of the `tiny` and `cpu-beauty` presets
 * (src/finetune/baseModel.ts BASE_MODEL_PRESETS), with a 6,000-token (pruned) text vocabulary.
 * Prints one JSON line. Not run by CI.
 *   node --import tsx bench/eval.ts [--shape cpu-beauty|tiny] [--ids random|clustered] [--users 256] [--beam 10] [--batch 32]
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readSequenceData } from '../src/data/datasetReader.js';
import { ingest } from '../src/data/ingest.js';
import { evaluateUsers, type RenderPrompt } from '../src/eval/generative.js';
import { BASE_MODEL_PRESETS } from '../src/finetune/baseModel.js';
import { randomQwen, scratchConfig, type ScratchModel } from '../src/llm/random.js';
import type { SessionFactory } from '../src/search/decodeSession.js';
import { DecodingTrie } from '../src/search/decodingTrie.js';
import { SemanticIdTrie } from '../src/semid/trie.js';
import { describeBackend } from '../src/tensor/backend.js';
import { initTensorEngine } from '../src/tensor/init.js';
import { Rng } from '../src/tensor/rng.js';

const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: 'cpu-beauty' },
    users: { type: 'string', default: '256' },
    beam: { type: 'string', default: '10' },
    batch: { type: 'string', default: '32' },
    dataset: { type: 'string' },
    ids: { type: 'string', default: 'random' },
  },
});
const preset = BASE_MODEL_PRESETS[values.shape as keyof typeof BASE_MODEL_PRESETS];
if (!preset || preset.kind !== 'scratch') throw new Error(`--shape must be one of ${Object.keys(BASE_MODEL_PRESETS).join(', ')}`);
const shape: ScratchModel = preset.model;
const users = Number(values.users);
const beam = Number(values.beam);
const batch = Number(values.batch);
const LEVELS = 4;
const CODEBOOK = 256;
const TEXT_VOCAB = 6000;
const EOS = 1;

const datasets = process.env.LCREC_DATASETS ?? resolve('..', 'shared', 'datasets');
const source = values.dataset ?? join(datasets, 'amazon2014-beauty');
if (!existsSync(source)) throw new Error(`no dataset at ${source}: set LCREC_DATASETS or --dataset`);
const backend = await initTensorEngine();
const work = await mkdtemp(join(tmpdir(), 'lcrec-bench-eval-'));
try {
  await ingest(source, 'lcrec', { kCore: null, dedupe: true, requireMetadata: true, minSequenceLength: 3 }, work);
  const { sequences, numItems } = await readSequenceData(work);

  // Semantic IDs: `random` = distinct uniform 4 x 256 tuples (few shared prefixes below level 2);
  // `clustered` = RQ-VAE-like: 3-code prefixes drawn from a skewed pool of items/12 prefixes
  // (bench/semid.ts's model), the last code distinct within its prefix, as collision repair leaves it.
  const rng = new Rng(7);
  const seen = new Set<string>();
  const codes = new Int32Array(numItems * LEVELS);
  const pool = Array.from({ length: Math.round(numItems / 12) }, () => Array.from({ length: LEVELS - 1 }, () => rng.int(CODEBOOK)));
  for (let i = 0; i < numItems; ) {
    const prefix = values.ids === 'clustered' ? (pool[Math.min(pool.length - 1, Math.floor(pool.length * rng.float() ** 1.5))] as number[]) : Array.from({ length: LEVELS - 1 }, () => rng.int(CODEBOOK));
    const tuple = [...prefix, rng.int(CODEBOOK)];
    if (seen.has(tuple.join())) continue;
    seen.add(tuple.join());
    codes.set(tuple, i++ * LEVELS);
  }
  const tokens = { codeTokenId: (level: number, code: number) => TEXT_VOCAB + level * CODEBOOK + code, eosId: EOS };
  const trie = DecodingTrie.fromSemanticIds(SemanticIdTrie.build(codes, LEVELS), tokens);
  const template = Int32Array.from({ length: 40 }, (_, i) => 10 + ((i * 37) % (TEXT_VOCAB - 10)));
  const renderPrompt: RenderPrompt = (history) => {
    const out: number[] = [...template];
    for (const item of history) {
      for (let l = 0; l < LEVELS; l++) out.push(tokens.codeTokenId(l, codes[item * LEVELS + l]!));
      out.push(11); // ", "
    }
    out.push(12, 13, 14, 15, 16); // "### Response:"
    return Int32Array.from(out);
  };

  const config = scratchConfig(shape, TEXT_VOCAB + LEVELS * CODEBOOK, { eos: EOS, pad: 0 });
  const model = randomQwen(config, 1);
  const evalOpts = { splits: ['test'] as const, templates: [0], beamWidth: beam, batchPrompts: batch, maxHistory: 20 };
  const range = { from: 0, to: Math.min(users, sequences.length) };
  const promptTokens = sequences.slice(range.from, range.to).reduce((n, s) => n + renderPrompt(s.subarray(Math.max(0, s.length - 21), s.length - 1), 0).length, 0) / (range.to - range.from);

  // Warm-up (kernel compilation, first allocations), then the measured run.
  await evaluateUsers({ sessions: model.sessions, trie, renderPrompt }, sequences, { from: 0, to: Math.min(batch, range.to) }, { ...evalOpts, splits: ['test'] });
  let started = performance.now();
  const real = await evaluateUsers({ sessions: model.sessions, trie, renderPrompt }, sequences, range, { ...evalOpts, splits: ['test'] });
  const realSeconds = (performance.now() - started) / 1000;

  // The search alone: a session that costs nothing (constant logits).
  const free: SessionFactory = {
    async start(prompts) {
      let rows = prompts.length;
      return {
        get rows() {
          return rows;
        },
        async nextLogits(allowed) {
          return allowed.map((a) => Float32Array.from(a, (t) => (t * 2654435761) % 1000 / 1000));
        },
        async advance(parents) {
          rows = parents.length;
        },
        dispose() {},
      };
    },
  };
  const allUsers = { from: 0, to: Math.min(sequences.length, 5000) };
  started = performance.now();
  const searchOnly = await evaluateUsers({ sessions: free, trie, renderPrompt }, sequences, allUsers, { ...evalOpts, splits: ['test'] });
  const searchSeconds = (performance.now() - started) / 1000;

  const t = real.timing;
  process.stdout.write(
    `${JSON.stringify({
      bench: 'eval',
      node: process.version,
      backend: describeBackend(backend),
      shape: values.shape,
      ids: values.ids,
      model: { hidden: config.hidden_size, layers: config.num_hidden_layers, heads: config.num_attention_heads, kvHeads: config.num_key_value_heads, vocab: config.vocab_size },
      items: numItems,
      levels: LEVELS,
      beam,
      batch_prompts: batch,
      users: range.to - range.from,
      prompt_tokens_mean: Math.round(promptTokens * 10) / 10,
      seconds: round(realSeconds),
      users_per_s: round((range.to - range.from) / realSeconds),
      model_share: round(t.modelMs / (t.modelMs + t.searchMs)),
      prefill_share: round(t.prefillMs / (t.modelMs + t.searchMs)),
      search_share: round(t.searchMs / (t.modelMs + t.searchMs)),
      search_only_users_per_s: round((allUsers.to - allUsers.from) / searchSeconds),
      search_only_ms_per_user: round((searchOnly.timing.searchMs / (allUsers.to - allUsers.from))),
    })}\n`,
  );
  model.dispose();
} finally {
  await rm(work, { recursive: true, force: true });
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
