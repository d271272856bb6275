/**
 * Recall@10 on a fixed sample of validation users after each epoch (spec F: genrec evaluates
 * constrained-beam HR/NDCG on the valid split every epoch): the users are drawn once from the run
 * seed, their valid case (history before the second-to-last item) is decoded by the
 * trie-constrained beam search with one seqrec template, and a hit is the held-out item among the
 * 10 beams. Uses the model's decoding sessions, so under LoRA the trainer merges the adapters in
 * first (LoraAdapters.withMerged).
 */
import type { CausalLM } from '../llm/contract.js';
import { evaluateUsers } from '../eval/generative.js';
import type { RenderPrompt } from '../eval/generative.js';
import { DecodingTrie } from '../search/decodingTrie.js';
import type { CodeTokens } from '../search/decodingTrie.js';
import type { SemanticIdTrie } from '../semid/trie.js';
import { rngFor } from '../tensor/rng.js';
import type { RecallContext } from './trainer.js';

export interface RecallHookOptions {
  model: CausalLM;
  trie: SemanticIdTrie;
  tokens: CodeTokens;
  /** Full chronological item sequences of every user (the ingest stage's). */
  sequences: readonly Int32Array[];
  renderPrompt: RenderPrompt;
  /** The seqrec template evaluated. */
  template: number;
  /** History items shown (the prompts' cap). */
  maxHistory: number;
  seed: number;
  beamWidth?: number;
  batchPrompts?: number;
}

export function recallAt10Hook(opts: RecallHookOptions): (ctx: RecallContext) => Promise<number> {
  const trie = DecodingTrie.fromSemanticIds(opts.trie, opts.tokens);
  const eligible = opts.sequences.flatMap((s, u) => (s.length >= 3 ? [u] : []));
  let sample: Int32Array[] | undefined;
  return async (ctx) => {
    // Drawn once: every epoch is measured on the same users.
    sample ??= Array.from(rngFor(opts.seed, 'finetune/recall-users').sample(eligible.length, Math.min(ctx.users, eligible.length)).sort(), (i) => opts.sequences[eligible[i]!]!);
    if (sample.length === 0) return 0;
    const result = await evaluateUsers({ sessions: opts.model.sessions, trie, renderPrompt: opts.renderPrompt }, sample, { from: 0, to: sample.length }, {
      splits: ['valid'],
      templates: [opts.template],
      beamWidth: Math.max(10, opts.beamWidth ?? 10),
      batchPrompts: opts.batchPrompts ?? 16,
      maxHistory: opts.maxHistory,
    });
    const ranks = result.parts[0]!.targetRank;
    let hits = 0;
    for (const r of ranks) if (r >= 0 && r < 10) hits++;
    return hits / ranks.length;
  };
}
