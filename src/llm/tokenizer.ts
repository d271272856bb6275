/**
 * A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) run by `@huggingface/tokenizers`
 * (pure JS): encode, batch encode, decode, and the eos/pad/bos ids the trainer and the search need.
 *
 * Encoding has a fast path for the usual byte-level BPE setup (Qwen, GPT-2, Llama 3): added tokens
 * are split off first (leftmost-longest, as both the JS and the Rust library do), each remaining
 * section is normalised and split by the library's own components, and the ids of every piece
 * are memoised (a trailing per-piece ByteLevel stage, as Qwen has, runs only on a memo miss). Prompts repeat the same words and separators endlessly, so this runs
 * several times faster than the library's `encode`, whose LRU cache costs more than the BPE it
 * saves. Anything outside that setup (stripping added tokens, template post-processors, ...) goes
 * through the library's `encode` unchanged. The tests hold both paths to the Python `tokenizers`.
 */
import * as tokenizersLib from '@huggingface/tokenizers';
import { Tokenizer } from '@huggingface/tokenizers';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import { readTokenizerDir, tokenContent, tokenizerSize, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from './tokenizerFiles.js';
import type { TokenizerFiles } from './tokenizerFiles.js';

export interface EncodeOptions {
  /** Apply the post-processor's special tokens (BOS/EOS templates), as HF's default does. Qwen adds none. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens. Off by default: the semantic-ID tokens are special and must survive. */
  skipSpecialTokens?: boolean;
}

/** The library's components we drive directly on the fast path (public fields of its Tokenizer). */
type PreTokenizeFn = (text: string, options?: { section_index?: number }) => string[];

interface LibraryParts {
  normalizer: ((text: string) => string) | null;
  pre_tokenizer: PreTokenizeFn | null;
  model: { (tokens: string[]): string[]; tokens_to_ids: Map<string, number>; unk_token_id?: number; vocab: string[] };
}

/**
 * Pre-tokenizer classes the package exports at runtime; its type declarations re-export them
 * through extension-less paths that NodeNext resolution drops, hence the cast.
 */
const { ByteLevelPreTokenizer, SequencePreTokenizer } = tokenizersLib as unknown as Record<
  'ByteLevelPreTokenizer' | 'SequencePreTokenizer',
  new (config: unknown) => PreTokenizeFn
>;

/** Memo sizes; a memo is cleared when full (prompt corpora have tens of thousands of distinct words). */
const WORD_CACHE_LIMIT = 1 << 20;
/** Sections up to this length are memoised whole. */
const SECTION_MEMO_MAX_CHARS = 64;

export class HfTokenizer {
  /** len(tokenizer) in transformers: largest id + 1. */
  readonly size: number;
  readonly eosToken: string;
  readonly eosId: number;
  /**
   * The padding id. Qwen2.5 (and Qwen3 base) tokenizers pad with their EOS: `padIsEos` is then true
   * and a collator must mask labels by sequence length, never by `id == padId`, or the appended EOS
   * is masked too and never learned (spec E.3). Falls back to EOS when the config names no pad.
   */
  readonly padToken: string;
  readonly padId: number;
  readonly padIsEos: boolean;
  readonly bosId: number | null;
  /** Ids of every special added token (chat tags, EOS, the semantic-ID tokens). */
  readonly specialIds: ReadonlySet<number>;

  private readonly lib: Tokenizer;
  private readonly parts: LibraryParts;
  private readonly addedIds: Map<string, number>;
  private readonly splitter: AddedTokenSplitter;
  /** The pre-tokenizer up to a trailing per-piece ByteLevel stage, and that stage (or null). */
  private readonly splitStage: PreTokenizeFn | null;
  private readonly byteStage: PreTokenizeFn | null;
  /** Whether the fast path applies without and with the post-processor's special tokens. */
  private readonly fastPlain: boolean;
  private readonly fastWithSpecials: boolean;
  private wordCache = new Map<string, readonly number[]>();
  private sectionCache = new Map<string, readonly number[]>();

  constructor(readonly files: TokenizerFiles) {
    const configFile = join(files.source, TOKENIZER_CONFIG_FILE);
    try {
      this.lib = new Tokenizer(files.tokenizer, files.config);
    } catch (error) {
      throw new BadInputError(`cannot build this tokenizer: ${(error as Error).message}`, { file: join(files.source, TOKENIZER_FILE) });
    }
    this.parts = this.lib as unknown as LibraryParts;
    this.size = tokenizerSize(files.tokenizer);

    const added = files.tokenizer.added_tokens;
    this.addedIds = new Map(added.map((t) => [t.content, t.id]));
    this.specialIds = new Set(added.filter((t) => t.special).map((t) => t.id));
    this.splitter = new AddedTokenSplitter(added.map((t) => t.content));

    const eos = tokenContent(files.config.eos_token);
    if (eos === null) throw new BadInputError('no eos_token: training appends EOS to every target', { file: configFile, field: 'eos_token' });
    this.eosToken = eos;
    this.eosId = this.requireId(eos, configFile, 'eos_token');
    this.padToken = tokenContent(files.config.pad_token) ?? eos;
    this.padId = this.requireId(this.padToken, configFile, 'pad_token');
    this.padIsEos = this.padId === this.eosId;
    const bos = tokenContent(files.config.bos_token);
    this.bosId = bos === null ? null : this.requireId(bos, configFile, 'bos_token');

    const model = files.tokenizer.model;
    const config = files.config as Record<string, unknown>;
    this.fastPlain =
      (model.type ?? 'BPE') === 'BPE' &&
      model['fuse_unk'] !== true &&
      config['remove_space'] !== true &&
      config['do_lowercase_and_remove_accent'] !== true &&
      added.every((t) => !t.lstrip && !t.rstrip && !t.single_word && !(t.normalized ?? !t.special));
    const post = files.tokenizer.post_processor as { type?: string } | null | undefined;
    this.fastWithSpecials = this.fastPlain && (post == null || post.type === 'ByteLevel');
    [this.splitStage, this.byteStage] = this.stages();
  }

  static async fromDir(dir: string): Promise<HfTokenizer> {
    return new HfTokenizer(await readTokenizerDir(dir));
  }

  /** Token ids of `text`. */
  encode(text: string, options: EncodeOptions = {}): Int32Array {
    const addSpecialTokens = options.addSpecialTokens ?? true;
    if (!(addSpecialTokens ? this.fastWithSpecials : this.fastPlain)) {
      return Int32Array.from(this.lib.encode(text, { add_special_tokens: addSpecialTokens }).ids);
    }
    const ids: number[] = [];
    const sections = this.splitter.split(text);
    for (let s = 0; s < sections.length; s++) {
      const section = sections[s]!;
      const addedId = this.addedIds.get(section);
      if (addedId !== undefined) {
        ids.push(addedId);
        continue;
      }
      for (const id of this.sectionIds(section, s)) ids.push(id);
    }
    return Int32Array.from(ids);
  }

  encodeBatch(texts: readonly string[], options: EncodeOptions = {}): Int32Array[] {
    return texts.map((t) => this.encode(t, options));
  }

  /** The token strings of `text` (byte-level strings for BPE), the library's own pipeline. */
  tokenize(text: string, options: EncodeOptions = {}): string[] {
    return this.lib.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).tokens;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    if (ids.length === 0) return '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.size) throw new RangeError(`token id ${id} is outside 0..${this.size - 1}`);
    }
    return this.lib.decode(Array.from(ids), { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.lib.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.lib.id_to_token(id);
  }

  /**
   * Ids of the text between two added tokens. Short sections (separators, numbering, template
   * words) recur in almost every prompt and are memoised whole; the key records whether the
   * section is the first, the only thing a pre-tokenizer may look at besides the text.
   */
  private sectionIds(section: string, index: number): readonly number[] {
    const memo = section.length <= SECTION_MEMO_MAX_CHARS;
    const key = index === 0 ? `\u0000${section}` : section;
    if (memo) {
      const cached = this.sectionCache.get(key);
      if (cached !== undefined) return cached;
    }
    const normalized = this.parts.normalizer ? this.parts.normalizer(section) : section;
    const ids: number[] = [];
    if (normalized.length > 0) {
      const pieces = this.splitStage ? this.splitStage(normalized, { section_index: index }) : [normalized];
      for (const piece of pieces) for (const id of this.pieceIds(piece)) ids.push(id);
    }
    if (memo) {
      if (this.sectionCache.size >= WORD_CACHE_LIMIT) this.sectionCache = new Map();
      this.sectionCache.set(key, ids);
    }
    return ids;
  }

  private pieceIds(piece: string): readonly number[] {
    const cached = this.wordCache.get(piece);
    if (cached !== undefined) return cached;
    const { model } = this.parts;
    const ids: number[] = [];
    for (const word of this.byteStage ? this.byteStage(piece) : [piece]) {
      for (const token of model([word])) {
        const id = this.addedIds.get(token) ?? model.tokens_to_ids.get(token) ?? model.unk_token_id;
        if (id !== undefined) ids.push(id);
      }
    }
    if (this.wordCache.size >= WORD_CACHE_LIMIT) this.wordCache = new Map();
    this.wordCache.set(piece, ids);
    return ids;
  }

  /**
   * Splits the pre-tokenizer in two when it ends with a ByteLevel stage that does no splitting of
   * its own (use_regex false): that stage maps each piece on its own, so it can sit behind the memo.
   */
  private stages(): [PreTokenizeFn | null, PreTokenizeFn | null] {
    const config = this.files.tokenizer.pre_tokenizer as { type?: string; pretokenizers?: { type?: string; use_regex?: boolean }[] } | null | undefined;
    const steps = config?.type === 'Sequence' ? (config.pretokenizers ?? []) : [];
    const last = steps[steps.length - 1];
    if (last?.type !== 'ByteLevel' || last.use_regex !== false) return [this.parts.pre_tokenizer, null];
    return [new SequencePreTokenizer({ type: 'Sequence', pretokenizers: steps.slice(0, -1) }), new ByteLevelPreTokenizer(last)];
  }

  private requireId(token: string, file: string, field: string): number {
    const id = this.lib.token_to_id(token);
    if (id === undefined) throw new BadInputError(`${JSON.stringify(token)} is not a token of tokenizer.json`, { file, field });
    return id;
  }
}

interface TrieNode {
  next: Map<number, TrieNode>;
  end: string | null;
}

/**
 * Splits text around added tokens: at each position the longest added token starting there, the
 * leftmost first; the pieces in between are returned as they are. The same rule as the JS
 * library's DictionarySplitter and the Rust library's leftmost-longest Aho-Corasick.
 */
export class AddedTokenSplitter {
  private readonly root: TrieNode = { next: new Map(), end: null };

  constructor(tokens: Iterable<string>) {
    for (const token of tokens) {
      let node = this.root;
      for (let i = 0; i < token.length; i++) {
        const c = token.charCodeAt(i);
        let child = node.next.get(c);
        if (!child) node.next.set(c, (child = { next: new Map(), end: null }));
        node = child;
      }
      node.end = token;
    }
  }

  split(text: string): string[] {
    const out: string[] = [];
    const n = text.length;
    let start = 0;
    let i = 0;
    while (i < n) {
      let node: TrieNode | undefined = this.root.next.get(text.charCodeAt(i));
      let match: string | null = null;
      for (let j = i + 1; node !== undefined; j++) {
        if (node.end !== null) match = node.end;
        if (j >= n) break;
        node = node.next.get(text.charCodeAt(j));
      }
      if (match === null) {
        i++;
        continue;
      }
      if (i > start) out.push(text.slice(start, i));
      out.push(match);
      i += match.length;
      start = i;
    }
    if (start < n) out.push(text.slice(start));
    return out;
  }
}
