/**
 * The prefix trie of valid semantic IDs, for constrained decoding: after a prefix of codes, which
 * codes may come next so that the sequence can still end in an item. Every item has the same
 * number of codes (assign.ts), so all leaves are at depth `depth` and a complete path is exactly
 * an item; after it the decoder allows only EOS (allowedNext returns no codes).
 *
 * Layout (compact, and the same arrays in the JSON file): nodes are numbered breadth-first, root 0,
 * siblings by ascending code. The children of internal node n are the nodes
 * offsets[n] .. offsets[n+1]-1, `codes[m - 1]` is the code on the edge into node m (m >= 1), and
 * the leaves are the last `items` nodes, in order: leaf j (node firstLeaf + j) is item leafItems[j].
 * Built from the items sorted by their tuples, so the bytes depend only on the codes.
 */
import { BadInputError } from '../errors.js';
import { sortedByTuple } from './assign.js';

export const TRIE_FORMAT = 'lcrec.semantic_trie/1';

export interface TrieJson {
  format: typeof TRIE_FORMAT;
  depth: number;
  items: number;
  offsets: number[];
  codes: number[];
  leafItems: number[];
}

export class SemanticIdTrie {
  private constructor(
    readonly depth: number,
    readonly items: number,
    private readonly offsets: Int32Array,
    private readonly codes: Int32Array,
    private readonly leafItems: Int32Array,
  ) {}

  get nodeCount(): number {
    return this.codes.length + 1;
  }

  private get firstLeaf(): number {
    return this.nodeCount - this.items;
  }

  /** From the final codes (items x depth, row-major): every tuple must be distinct. */
  static build(codes: Int32Array, depth: number): SemanticIdTrie {
    if (!Number.isInteger(depth) || depth < 1 || codes.length % depth !== 0) throw new RangeError(`trie: ${codes.length} codes do not make rows of ${depth}`);
    const n = codes.length / depth;
    if (n === 0) throw new RangeError('trie: no items');
    for (const c of codes) if (c < 0) throw new RangeError(`trie: negative code ${c}`);
    const order = sortedByTuple(codes, n, depth);
    // newAt[i]: the depth at which item order[i] leaves the path of order[i-1] (0 for the first).
    const diverge = new Int32Array(n);
    for (let i = 1; i < n; i++) {
      const a = (order[i - 1] as number) * depth;
      const b = (order[i] as number) * depth;
      let l = 0;
      while (l < depth && codes[a + l] === codes[b + l]) l++;
      if (l === depth) throw new RangeError(`trie: items ${order[i - 1]} and ${order[i]} have the same codes; IDs must be collision-free`);
      diverge[i] = l;
    }
    // Breadth-first: the nodes at depth d are the distinct length-d prefixes, in sorted order.
    const offsets: number[] = [];
    const edgeCodes: number[] = [];
    let nextNode = 1;
    for (let d = 0; d < depth; d++) {
      // Internal nodes at depth d, each with its children at depth d + 1.
      for (let i = 0; i < n; i++) {
        const startsNode = i === 0 || (diverge[i] as number) < d; // a new depth-d node (prefix of length d)
        if (startsNode) offsets.push(nextNode);
        if (i === 0 || (diverge[i] as number) <= d) {
          edgeCodes.push(codes[(order[i] as number) * depth + d] as number);
          nextNode++;
        }
      }
    }
    offsets.push(nextNode);
    return new SemanticIdTrie(depth, n, Int32Array.from(offsets), Int32Array.from(edgeCodes), order);
  }

  /** Codes allowed after `prefix` (ascending); empty after a complete ID or an invalid prefix. */
  allowedNext(prefix: readonly number[]): Int32Array {
    const node = this.walk(prefix);
    if (node === undefined || prefix.length >= this.depth) return new Int32Array(0);
    return this.codes.slice((this.offsets[node] as number) - 1, (this.offsets[node + 1] as number) - 1);
  }

  /** The item of a complete path, else undefined. */
  itemAt(path: readonly number[]): number | undefined {
    if (path.length !== this.depth) return undefined;
    const node = this.walk(path);
    return node === undefined ? undefined : this.leafItems[node - this.firstLeaf];
  }

  /** Whether `prefix` leads to at least one item. */
  isValidPrefix(prefix: readonly number[]): boolean {
    return prefix.length <= this.depth && this.walk(prefix) !== undefined;
  }

  private walk(prefix: readonly number[]): number | undefined {
    let node = 0;
    for (let l = 0; l < prefix.length; l++) {
      if (l >= this.depth) return undefined;
      const code = prefix[l] as number;
      // The children are nodes lo..hi-1, their codes at lo-1..hi-2, ascending: binary search.
      let lo = this.offsets[node] as number;
      let hi = this.offsets[node + 1] as number;
      let found = -1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const c = this.codes[mid - 1] as number;
        if (c === code) {
          found = mid;
          break;
        }
        if (c < code) lo = mid + 1;
        else hi = mid;
      }
      if (found < 0) return undefined;
      node = found;
    }
    return node;
  }

  toJSON(): TrieJson {
    return {
      format: TRIE_FORMAT,
      depth: this.depth,
      items: this.items,
      offsets: Array.from(this.offsets),
      codes: Array.from(this.codes),
      leafItems: Array.from(this.leafItems),
    };
  }

  /** Validates the structure fully: a file that loads is a trie of `items` distinct paths. */
  static fromJSON(value: unknown, file = '<trie>'): SemanticIdTrie {
    const fail = (why: string, field?: string): never => {
      throw new BadInputError(`not a valid semantic-ID trie: ${why}`, { file, ...(field ? { field } : {}) });
    };
    const v = value as Partial<TrieJson> | null;
    if (typeof v !== 'object' || v === null || v.format !== TRIE_FORMAT) return fail(`format must be '${TRIE_FORMAT}'`, 'format');
    const { depth, items, offsets, codes, leafItems } = v;
    if (!Number.isInteger(depth) || (depth as number) < 1) return fail('depth must be an integer >= 1', 'depth');
    if (!Number.isInteger(items) || (items as number) < 1) return fail('items must be an integer >= 1', 'items');
    const ints = (a: unknown, field: string): Int32Array => {
      if (!Array.isArray(a) || !a.every((x) => Number.isInteger(x) && x >= 0 && x <= 0x7fffffff)) return fail(`${field} must be non-negative integers`, field);
      return Int32Array.from(a as number[]);
    };
    const off = ints(offsets, 'offsets');
    const cod = ints(codes, 'codes');
    const leaves = ints(leafItems, 'leafItems');
    const nodes = cod.length + 1;
    const internal = nodes - (items as number);
    if (off.length !== internal + 1 || leaves.length !== items) return fail('array lengths do not agree with items', 'offsets');
    if (off[0] !== 1 || off[internal] !== nodes) return fail('offsets must start at 1 and end at the node count', 'offsets');
    for (let i = 0; i < internal; i++) if ((off[i + 1] as number) <= (off[i] as number)) return fail(`internal node ${i} has no child`, 'offsets');
    for (let i = 0; i < internal; i++) {
      for (let m = (off[i] as number) + 1; m < (off[i + 1] as number); m++) {
        if ((cod[m - 1] as number) <= (cod[m - 2] as number)) return fail(`children of node ${i} are not in ascending code order`, 'codes');
      }
    }
    // Depth layers: [0,1), then each layer's children; the last layer must be exactly the leaves.
    let from = 0;
    let to = 1;
    for (let d = 0; d < (depth as number); d++) {
      if (to > internal) return fail(`layer ${d} reaches past the internal nodes`, 'depth');
      if (off[from] !== to) return fail(`layer ${d + 1} does not follow layer ${d}`, 'offsets');
      const next = [off[from] as number, off[to] as number] as const;
      from = next[0];
      to = next[1];
    }
    if (from !== internal || to !== nodes) return fail(`the leaves are not exactly the nodes at depth ${depth}`, 'depth');
    const seen = new Uint8Array(items as number);
    for (const item of leaves) {
      if (item >= (items as number) || seen[item]) return fail(`leafItems must be a permutation of 0..${(items as number) - 1}`, 'leafItems');
      seen[item] = 1;
    }
    return new SemanticIdTrie(depth as number, items as number, off, cod, leaves);
  }
}
