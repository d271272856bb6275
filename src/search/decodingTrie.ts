/**
 * The semantic-ID prefix trie (src/semid/trie.ts) in token ids, laid out for the beam search's
 * inner loop: a beam is one int (its node), and the allowed continuations of a node are a cached
 * view into one flat Int32Array, so a decoding step allocates nothing per token.
 *
 * Same node numbering as SemanticIdTrie's JSON: breadth-first, root 0, the children of internal
 * node n are nodes offsets[n] .. offsets[n+1]-1 in ascending code order, and the last `items`
 * nodes are the leaves (one item each). The level of a node's children is the node's depth, so
 * `codeTokenId(depth, code)` maps each edge to the LLM token that spells it.
 *
 * Every item has exactly `depth` codes (assign.ts: an extra disambiguation level is added to every
 * item or to none), so every leaf is at depth `depth` and after a leaf only EOS may follow.
 */
import type { SemanticIdTrie } from '../semid/trie.js';

/** Where code tokens sit in the LLM's vocabulary (the tokenizer provides the real ids). */
export interface CodeTokens {
  /** Token id of code `code` at `level`, e.g. the id of `<C{level}_{code}>`. */
  codeTokenId(level: number, code: number): number;
  /** End of sequence: the only token allowed after a complete semantic ID. */
  eosId: number;
}

export class DecodingTrie {
  /** Views of `childTokens`, one per internal node, built once. */
  private readonly allowedViews: Int32Array[];
  /** Per node: the leaf its subtree ends in when that subtree is a single path (a leaf: itself), else -1. */
  private readonly forced: Int32Array;

  private constructor(
    readonly depth: number,
    readonly items: number,
    private readonly offsets: Int32Array,
    /** childTokens[m - 1]: the token id on the edge into node m. */
    private readonly childTokens: Int32Array,
    private readonly leafItems: Int32Array,
  ) {
    const internal = offsets.length - 1;
    this.allowedViews = new Array<Int32Array>(internal);
    for (let n = 0; n < internal; n++) this.allowedViews[n] = childTokens.subarray((offsets[n] as number) - 1, (offsets[n + 1] as number) - 1);
    // Children have larger numbers than their parent (breadth-first), so one backward pass suffices.
    const nodes = childTokens.length + 1;
    this.forced = new Int32Array(nodes);
    for (let n = nodes - 1; n >= 0; n--) {
      if (n >= internal) this.forced[n] = n;
      else {
        const first = offsets[n] as number;
        this.forced[n] = (offsets[n + 1] as number) - first === 1 ? (this.forced[first] as number) : -1;
      }
    }
  }

  /**
   * Maps the trie's codes to token ids. Throws when two (level, code) pairs share a token or a
   * code token is EOS: such a mapping would make different items decode to the same tokens.
   */
  static fromSemanticIds(trie: SemanticIdTrie, tokens: CodeTokens): DecodingTrie {
    const { depth, items, offsets: offsetList, codes, leafItems } = trie.toJSON();
    const offsets = Int32Array.from(offsetList);
    const childTokens = new Int32Array(codes.length);
    const owner = new Map<number, string>();
    checkTokenId(tokens.eosId, 'eosId');
    owner.set(tokens.eosId, 'EOS');
    // Breadth-first layers: nodes [from, to) are at depth d; their children are at level d.
    let from = 0;
    let to = 1;
    for (let d = 0; d < depth; d++) {
      for (let m = offsets[from] as number; m < (offsets[to] as number); m++) {
        const code = codes[m - 1] as number;
        const id = tokens.codeTokenId(d, code);
        checkTokenId(id, `codeTokenId(${d}, ${code})`);
        const name = `level ${d} code ${code}`;
        const other = owner.get(id);
        if (other !== undefined && other !== name) throw new RangeError(`token id ${id} is used by both ${other} and ${name}`);
        owner.set(id, name);
        childTokens[m - 1] = id;
      }
      [from, to] = [offsets[from] as number, offsets[to] as number];
    }
    return new DecodingTrie(depth, items, offsets, childTokens, Int32Array.from(leafItems));
  }

  static readonly ROOT = 0;

  /** Token ids allowed after the prefix ending at internal `node`, in ascending code order. */
  allowed(node: number): Int32Array {
    return this.allowedViews[node] as Int32Array;
  }

  /** The node reached from internal `node` by its `index`-th allowed token. */
  child(node: number, index: number): number {
    return (this.offsets[node] as number) + index;
  }

  /**
   * The leaf reached from `node` when only one path leads on from it (every later step allows a
   * single token), the node itself when it is a leaf, else -1.
   */
  forcedLeaf(node: number): number {
    return this.forced[node] as number;
  }

  /** The item of a leaf node (a node reached after `depth` tokens). */
  itemOf(leaf: number): number {
    const at = leaf - (this.childTokens.length + 1 - this.items);
    if (at < 0 || at >= this.items) throw new RangeError(`node ${leaf} is not a leaf`);
    return this.leafItems[at] as number;
  }
}

function checkTokenId(id: number, what: string): void {
  if (!Number.isInteger(id) || id < 0) throw new RangeError(`${what} must be a non-negative integer token id, got ${id}`);
}
