/**
 * What constrained beam search needs from a causal language model, and nothing more. `src/llm`
 * implements it for Qwen models with a KV cache; the search's tests use small table-driven fakes.
 */
export interface DecodeSession {
  /** Live rows (sequences). After `start` they are the prompts, in order. */
  readonly rows: number;
  /**
   * Logits of the next token of every row, computed only for the token ids given for that row
   * (the allowed continuations). Result `i` has `allowed[i].length` entries, in the same order.
   */
  nextLogits(allowed: readonly Int32Array[]): Promise<Float32Array[]>;
  /**
   * Replaces the rows by `parents.length` new rows: row `j` continues old row `parents[j]`
   * (rows may be duplicated or dropped) and appends token `tokens[j]`.
   */
  advance(parents: Int32Array, tokens: Int32Array): Promise<void>;
  /** Frees the cache; the session is unusable afterwards. */
  dispose(): void;
}

/** Starts decoding sessions: one row per prompt (token ids, no padding). */
export interface SessionFactory {
  start(prompts: readonly Int32Array[]): Promise<DecodeSession>;
}
