/**
 * Vocabulary pruning for models trained from scratch: a 152k-row embedding and head would
 * dominate CPU training, while a dataset's prompts use a few thousand tokens.
 *
 * Kept: every token the corpus encodes to, every added token (chat tags, EOS/pad, the semantic-ID
 * tokens), the 256 byte tokens of the byte-level alphabet, and every token a kept token can be
 * merged from (recursively). A merge survives when both its parts and its result survive, in its
 * original order. That is enough for both promises:
 *  (a) the corpus encodes to exactly the same token strings: BPE applies, at each step, the
 *      lowest-ranked merge among the adjacent pairs; every merge the full tokenizer applies to a
 *      corpus word builds a kept token from kept parts, so it is still there, and the kept merges
 *      are a subset in the same order, so it is still the lowest. By induction the runs agree.
 *  (b) any text still encodes: BPE starts from byte tokens, which are all kept, and a kept merge
 *      only produces a kept token, so nothing ever falls outside the vocabulary.
 * Ids are renumbered contiguously in their old order; `keptOldIds[newId]` is the old id, which is
 * what the model's "keep rows" operation needs. The pruning is recorded in lcrec_tokenizer.json.
 * After building, the corpus is encoded again with the pruned tokenizer and checked against a
 * fingerprint of each text's ids under the full tokenizer (a).
 */
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import { digestOf } from '../util/canonical.js';
import { HfTokenizer } from './tokenizer.js';
import { modelVocab, tokenContent, tokenizerSize, TOKENIZER_FILE } from './tokenizerFiles.js';
import type { TokenizerFiles, TokenizerJson } from './tokenizerFiles.js';

export interface PruneResult {
  files: TokenizerFiles;
  /** keptOldIds[newId] = the token's id before pruning; ascending. */
  keptOldIds: Int32Array;
  /** The old -> new map as an array over old ids, -1 for a dropped token. */
  newIdOf: Int32Array;
}

export interface PruneOptions {
  /** Re-encode the corpus with the pruned tokenizer and check it (default true). */
  verify?: boolean;
}

type Merge = string | [string, string];

export function pruneVocabulary(files: TokenizerFiles, corpus: readonly string[], options: PruneOptions = {}): PruneResult {
  const file = join(files.source, TOKENIZER_FILE);
  if (files.record.pruning !== undefined) throw new BadInputError('this tokenizer is already pruned; prune the tokenizer it came from', { file });
  requireByteLevelBpe(files.tokenizer, file);

  const full = new HfTokenizer(files);
  const size = full.size;
  const vocab = modelVocab(files.tokenizer, files.source);
  const merges = (files.tokenizer.model.merges ?? []) as Merge[];
  const pairs = merges.map(mergePair);

  const usedIds = new Uint8Array(size);
  // A fingerprint of each text's ids, so the verification needs no second full-vocabulary pass.
  const fingerprints = new Float64Array(corpus.length);
  corpus.forEach((text, i) => {
    const ids = full.encode(text);
    for (const id of ids) usedIds[id] = 1;
    fingerprints[i] = fingerprint(ids);
  });
  const keep = keptTokens(files, vocab, usedIds, pairs);

  // New ids: the kept old ids (base vocabulary and added tokens alike) ranked in their old order.
  const keptFlags = new Uint8Array(size);
  for (const token of keep) {
    const id = vocab.get(token);
    if (id !== undefined) keptFlags[id] = 1;
  }
  for (const t of files.tokenizer.added_tokens) keptFlags[t.id] = 1;
  const newIdOf = new Int32Array(size).fill(-1);
  const kept: number[] = [];
  for (let id = 0; id < size; id++) if (keptFlags[id] === 1) newIdOf[id] = kept.push(id) - 1;
  const keptOldIds = Int32Array.from(kept);
  const remap = (old: number): number => {
    const id = newIdOf[old];
    if (id === undefined || id < 0) throw new Error(`pruning: id ${old} was dropped but is still referenced`);
    return id;
  };

  // fromEntries defines own properties, so even a token named "__proto__" stays a plain key.
  const newVocab: Record<string, number> = Object.fromEntries([...vocab].filter(([, id]) => keptFlags[id] === 1).map(([token, id]) => [token, remap(id)]));
  const isKept = (token: string): boolean => keep.has(token) && vocab.has(token);
  const newMerges = merges.filter((_, i) => {
    const [a, b] = pairs[i]!;
    return isKept(a) && isKept(b) && isKept(a + b);
  });
  const tokenizer: TokenizerJson = {
    ...files.tokenizer,
    model: { ...files.tokenizer.model, vocab: newVocab, merges: newMerges },
    added_tokens: files.tokenizer.added_tokens.map((t) => ({ ...t, id: remap(t.id) })),
    post_processor: remapPostProcessor(files.tokenizer.post_processor, remap),
  };
  const decoder: Record<string, { content: string }> = {};
  for (const [id, entry] of Object.entries(files.config.added_tokens_decoder ?? {})) {
    const old = Number(id);
    if (Number.isInteger(old) && old < size && keptFlags[old] === 1) decoder[String(remap(old))] = entry;
  }
  const codeTokens = files.record.codeTokens;
  const pruned: TokenizerFiles = {
    source: files.source,
    tokenizer,
    config: { ...files.config, ...(files.config.added_tokens_decoder ? { added_tokens_decoder: decoder } : {}) },
    record: {
      ...files.record,
      ...(codeTokens ? { codeTokens: { ...codeTokens, firstId: remap(codeTokens.firstId) } } : {}),
      pruning: { sourceDigest: digestOf(files.tokenizer), sourceSize: size, keptCount: kept.length, keptOldIds: kept },
    },
  };
  if (tokenizerSize(tokenizer) !== kept.length) throw new Error('pruning: renumbered ids are not contiguous');
  if (options.verify ?? true) verifySameTokens(new HfTokenizer(pruned), corpus, fingerprints, keptOldIds);
  return { files: pruned, keptOldIds, newIdOf };
}

/**
 * The id after pruning of the token that had `oldId` (undefined when it was dropped): for
 * config.json's bos/eos/pad ids, which name added tokens and so always survive.
 */
export function prunedId(keptOldIds: Int32Array, oldId: number): number | undefined {
  let lo = 0;
  let hi = keptOldIds.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = keptOldIds[mid]!;
    if (v === oldId) return mid;
    if (v < oldId) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/** Base-vocabulary tokens to keep: used by the corpus, the byte alphabet, configured specials, and their merge closure. */
function keptTokens(files: TokenizerFiles, vocab: Map<string, number>, usedIds: Uint8Array, pairs: [string, string][]): Set<string> {
  const keep = new Set<string>();
  for (const [token, id] of vocab) if (usedIds[id] === 1) keep.add(token);
  for (const ch of byteAlphabet()) if (vocab.has(ch)) keep.add(ch);
  const { eos_token, pad_token, bos_token, unk_token } = files.config;
  for (const t of [eos_token, pad_token, bos_token, unk_token].map(tokenContent)) if (t !== null && vocab.has(t)) keep.add(t);
  const unk = files.tokenizer.model.unk_token;
  if (typeof unk === 'string' && vocab.has(unk)) keep.add(unk);
  closeOverMerges(keep, pairs);
  return keep;
}

/** Adds every token that a kept token is merged from, recursively (all merges producing it). */
function closeOverMerges(keep: Set<string>, pairs: [string, string][]): void {
  const producers = new Map<string, [string, string][]>();
  for (const pair of pairs) {
    const merged = pair[0] + pair[1];
    const list = producers.get(merged);
    if (list) list.push(pair);
    else producers.set(merged, [pair]);
  }
  const stack = [...keep];
  while (stack.length > 0) {
    const token = stack.pop()!;
    for (const [a, b] of producers.get(token) ?? []) {
      for (const part of [a, b]) {
        if (!keep.has(part)) {
          keep.add(part);
          stack.push(part);
        }
      }
    }
  }
}

function mergePair(merge: Merge): [string, string] {
  if (Array.isArray(merge)) return merge;
  const space = merge.indexOf(' ');
  return [merge.slice(0, space), merge.slice(space + 1)];
}

/** Special-token ids that post-processors carry (TemplateProcessing, Bert/Roberta), renumbered. */
function remapPostProcessor(post: unknown, remap: (id: number) => number): unknown {
  if (post === null || typeof post !== 'object') return post;
  const p = { ...(post as Record<string, unknown>) };
  if (Array.isArray(p['processors'])) p['processors'] = (p['processors'] as unknown[]).map((q) => remapPostProcessor(q, remap));
  for (const key of ['sep', 'cls']) {
    const v = p[key];
    if (Array.isArray(v) && typeof v[1] === 'number') p[key] = [v[0], remap(v[1])];
  }
  const specials = p['special_tokens'];
  if (specials !== null && typeof specials === 'object') {
    p['special_tokens'] = Object.fromEntries(
      Object.entries(specials as Record<string, { ids?: number[] }>).map(([k, v]) => [k, { ...v, ...(v.ids ? { ids: v.ids.map(remap) } : {}) }]),
    );
  }
  return p;
}

function requireByteLevelBpe(tokenizer: TokenizerJson, file: string): void {
  if ((tokenizer.model.type ?? 'BPE') !== 'BPE' || tokenizer.model.merges === undefined) {
    throw new BadInputError(`vocabulary pruning needs a BPE model, this is '${tokenizer.model.type}'`, { file, field: 'model.type' });
  }
  const pre = tokenizer.pre_tokenizer as { type?: string; pretokenizers?: { type?: string }[] } | null | undefined;
  const steps = pre?.type === 'Sequence' ? (pre.pretokenizers ?? []) : pre ? [pre] : [];
  if (!steps.some((s) => s.type === 'ByteLevel')) {
    throw new BadInputError('vocabulary pruning needs a byte-level BPE (a ByteLevel pre-tokenizer), so every text keeps encoding', { file, field: 'pre_tokenizer' });
  }
}

/** GPT-2's bytes_to_unicode: the 256 characters byte-level BPE writes bytes as. */
export function byteAlphabet(): string[] {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCharCode(printable(b) ? b : 256 + extra++));
  return out;
}

/** Every corpus text encodes, with the pruned tokenizer, to the old ids renumbered. */
function verifySameTokens(pruned: HfTokenizer, corpus: readonly string[], fingerprints: Float64Array, keptOldIds: Int32Array): void {
  corpus.forEach((text, i) => {
    const oldIds = pruned.encode(text).map((id) => keptOldIds[id]!);
    if (fingerprint(oldIds) !== fingerprints[i]) throw new Error(`pruning changed the tokens of corpus text ${i}: ${JSON.stringify(text.slice(0, 80))}`);
  });
}

/** Two independent 26-bit multiplicative hashes and the length, packed exactly into a double. */
function fingerprint(ids: Int32Array): number {
  let a = 0x1234567;
  let b = 0x7654321;
  for (const id of ids) {
    a = (Math.imul(a ^ id, 0x9e3779b1) + 0x6b43a9b5) >>> 0;
    b = (Math.imul(b + id, 0x85ebca6b) ^ (b >>> 13)) >>> 0;
  }
  return ((a >>> 6) * 2 ** 26 + (b >>> 6)) * 2 + (ids.length & 1);
}
