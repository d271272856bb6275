/**
 * The surface of a causal language model that training, LoRA and decoding rely on. `src/llm`'s
 * Qwen implementation provides it; the trainer's unit tests use small fakes that honour the same
 * contract. Weights are keyed by their Hugging Face tensor names, so loading, saving, LoRA target
 * matching and PEFT adapter names are all string mappings.
 */
import type { tf } from '../tensor/backend.js';
import type { SessionFactory } from '../search/decodeSession.js';

/**
 * Applies the linear layer `module` (its HF module path, e.g. `model.layers.0.self_attn.q_proj`)
 * to `x` [rows, in] -> [rows, out]. The model passes its own default; LoRA wraps it.
 */
export type LinearFn = (module: string, x: tf.Tensor2D) => tf.Tensor2D;

export interface ForwardOptions {
  /** Replaces the model's linear layers (LoRA adapters, frozen-weight views). */
  linear?: LinearFn;
}

export interface CausalLM {
  /** Vocabulary rows of the embedding and of the head. */
  readonly vocabSize: number;
  readonly hiddenSize: number;
  /** HF module paths of every linear layer the forward applies (LoRA target matching). */
  readonly linearModules: readonly string[];
  /** Every weight, by HF tensor name; all are tf.Variables so optimisers can update them. */
  readonly weights: ReadonlyMap<string, tf.Variable>;
  /**
   * Final hidden states (after the last norm), [batch * seq, hidden], row `b * seq + t`, for token
   * ids [batch, seq] laid out row-major. Causal attention, positions 0..seq-1 in every row: pad on
   * the right, and padded positions never influence earlier ones. Differentiable w.r.t. weights.
   */
  hidden(ids: Int32Array, batch: number, seq: number, opts?: ForwardOptions): tf.Tensor2D;
  /**
   * Logits [rows, tokenIds.length] = hidden @ head[tokenIds]^T (all vocabulary rows when
   * `tokenIds` is omitted). Differentiable; computing only the needed rows keeps the head cheap.
   */
  headLogits(hidden: tf.Tensor2D, tokenIds?: Int32Array, opts?: ForwardOptions): tf.Tensor2D;
  /** Incremental decoding with a KV cache, for constrained beam search. */
  readonly sessions: SessionFactory;
}
