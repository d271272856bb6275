/**
 * A lower bound on the tensor memory of one fine-tuning micro-batch, for the engine's memory
 * check (src/tensor/memory.ts) before any step runs: the weights, one gradient per trainable
 * weight, and what the backward pass keeps of the forward: every linear layer's input and output
 * for the batch's tokens (the largest micro-batch is batchSize x maxLength), plus the head's
 * logits at the supervised rows (64 per sequence assumed). Attention scores and norms are not counted: the check's margin
 * covers them for the sequence lengths used here.
 */
import type { CausalLM } from '../llm/contract.js';
import type { FinetuneSettings } from './settings.js';

export function finetuneMemoryBytes(model: CausalLM, settings: FinetuneSettings, trainableValues: number): number {
  let weights = 0;
  let linearWidths = 0;
  for (const [name, w] of model.weights) {
    weights += w.size * 4;
    if (w.rank === 2 && model.linearModules.some((m) => name === `${m}.weight`)) linearWidths += (w.shape[0] as number) + (w.shape[1] as number);
  }
  const tokens = settings.batchSize * settings.maxLength;
  const activations = tokens * 4 * (linearWidths + 4 * model.hiddenSize);
  // The head's logits and their gradient at the supervised rows, taken as 64 per sequence
  // (responses are a semantic ID or a short text).
  const head = 2 * settings.batchSize * 64 * model.vocabSize * 4;
  return weights + trainableValues * 4 + activations + head;
}
