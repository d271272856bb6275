/**
 * Tensors a training step keeps alive for its backward pass instead of `save`-ing them: the
 * engine clones every saved tensor, and on wasm a clone is a copy (for the RQ-VAE at batch 1024,
 * ~25 MB a step). The step owns the lifetime: `release()` after the gradients are taken disposes
 * everything kept, whether or not a backward read it. Ops keep only tensors they create; an input
 * is read by closure only when `holds` says the step keeps it (e.g. the previous layer's output).
 */
import { tf } from './backend.js';

export class KeptForBackward {
  private readonly held = new Set<tf.Tensor>();
  private readonly lent = new Set<tf.Tensor>();

  /** Keeps `t` (no tidy disposes it) until release(); returns it. */
  keep<T extends tf.Tensor>(t: T): T {
    this.held.add(tf.keep(t));
    return t;
  }

  /** Declares that `t`, owned by the caller, outlives the step (its input batch): readable by closure, never disposed here. */
  lend(t: tf.Tensor): void {
    this.lent.add(t);
  }

  holds(t: tf.Tensor): boolean {
    return this.held.has(t) || this.lent.has(t);
  }

  release(): void {
    tf.dispose([...this.held]);
    this.held.clear();
    this.lent.clear();
  }
}
