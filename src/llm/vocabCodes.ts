/**
 * The semantic-ID tokens `<C{level}_{code}>` in the tokenizer and the model's vocabulary (spec D.3).
 *
 * They are added genrec-style, as special added tokens with ids after the tokenizer's last id, so
 * each encodes as one id whatever surrounds it and decodes back (when special tokens are not
 * skipped). Either every level x codebook-size token (genrec) or only the codes items use
 * (official LC-Rec). A tokenizer that already holds a `<C{n}_{n}>` token we did not add is
 * refused: its ids would be ambiguous.
 *
 * The model side: Qwen's config `vocab_size` (151,936 for Qwen3) is padded above the tokenizer's
 * 151,669 ids, so the first code tokens land on existing, never-trained padding rows. The plan
 * therefore lists every code-token row for (re)initialisation, not only rows past the old size.
 */
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import { codeToken } from '../semid/vocabulary.js';
import type { SemanticVocabulary } from '../semid/vocabulary.js';
import { modelVocab, tokenizerSize, TOKENIZER_FILE } from './tokenizerFiles.js';
import type { AddedTokenJson, TokenizerFiles } from './tokenizerFiles.js';

/** Any semantic-ID-shaped token, whatever its level and code. */
const CODE_TOKEN = /^<C\d+_\d+>$/;

/** Which code tokens to add: all of every level (genrec) or only those some item uses (official). */
export type CodeTokenSelection = 'all' | 'used';

/**
 * The code tokens to add, level-major, code ascending. `used` needs the items' codes (items x
 * levels, row-major, as the semantic-ID stage writes them).
 */
export function codeTokensFor(vocab: SemanticVocabulary, selection: CodeTokenSelection, itemCodes?: Int32Array): string[] {
  if (selection === 'all') return vocab.tokens();
  if (itemCodes === undefined) throw new RangeError("selection 'used' needs the items' codes");
  const levels = vocab.levels;
  if (itemCodes.length % levels !== 0) throw new RangeError(`item codes length ${itemCodes.length} is not a multiple of ${levels} levels`);
  const used = vocab.codebookSizes.map((size) => new Uint8Array(size));
  for (let i = 0; i < itemCodes.length; i++) {
    const level = i % levels;
    const code = itemCodes[i]!;
    if (code < 0 || code >= used[level]!.length) throw new RangeError(`item ${Math.floor(i / levels)}: code ${code} at level ${level} is outside the codebook`);
    used[level]![code] = 1;
  }
  return used.flatMap((flags, level) => Array.from(flags.keys()).filter((code) => flags[code] === 1).map((code) => codeToken(level, code)));
}

/**
 * The tokenizer with `tokens` appended as special added tokens (ids tokenizerSize, +1, ...), in
 * both tokenizer.json and tokenizer_config.json, and recorded. Adding the same tokens to a
 * tokenizer we already extended with exactly them returns it unchanged (a resumed run).
 */
export function addCodeTokens(files: TokenizerFiles, tokens: readonly string[]): TokenizerFiles {
  const file = join(files.source, TOKENIZER_FILE);
  for (const t of tokens) if (!CODE_TOKEN.test(t)) throw new RangeError(`not a semantic-ID token: ${JSON.stringify(t)}`);
  if (new Set(tokens).size !== tokens.length) throw new RangeError('the code tokens to add contain duplicates');

  const recorded = files.record.codeTokens;
  if (recorded !== undefined) {
    if (recorded.tokens.length === tokens.length && recorded.tokens.every((t, i) => t === tokens[i])) return files;
    throw new BadInputError(
      `this tokenizer already carries ${recorded.tokens.length} semantic-ID tokens from an earlier run (${recorded.tokens.slice(0, 3).join(', ')}, ...), not the ${tokens.length} asked for; start from the base tokenizer`,
      { file, field: 'added_tokens' },
    );
  }
  const clashes = existingCodeTokens(files);
  if (clashes.length > 0) {
    const shown = clashes.slice(0, 5).map(([t, id]) => `${t} (id ${id})`).join(', ');
    throw new BadInputError(
      `the tokenizer already contains ${clashes.length} token(s) shaped like the semantic-ID tokens <C{level}_{code}>: ${shown}; they would clash with the tokens we add`,
      { file, field: clashes[0]![2] },
    );
  }

  const firstId = tokenizerSize(files.tokenizer);
  const entries: AddedTokenJson[] = tokens.map((content, i) => ({
    id: firstId + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const decoder = { ...(files.config.added_tokens_decoder ?? {}) };
  for (const e of entries) {
    decoder[String(e.id)] = { content: e.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  }
  return {
    source: files.source,
    tokenizer: { ...files.tokenizer, added_tokens: [...files.tokenizer.added_tokens, ...entries] },
    // genrec adds them as additional_special_tokens; transformers re-registers that list on load.
    config: { ...files.config, added_tokens_decoder: decoder, additional_special_tokens: [...(files.config.additional_special_tokens ?? []), ...tokens] },
    record: { ...files.record, codeTokens: { tokens: [...tokens], firstId } },
  };
}

/** Every `<C{n}_{n}>`-shaped token already in the tokenizer: [token, id, where]. */
function existingCodeTokens(files: TokenizerFiles): [string, number, string][] {
  const out: [string, number, string][] = [];
  for (const [token, id] of modelVocab(files.tokenizer, files.source)) if (CODE_TOKEN.test(token)) out.push([token, id, 'model.vocab']);
  for (const t of files.tokenizer.added_tokens) if (CODE_TOKEN.test(t.content)) out.push([t.content, t.id, 'added_tokens']);
  return out;
}

/** What the model engineer's row operations need after code tokens were added. */
export interface VocabularyPlan {
  /** Rows of the embedding and the head: max(config vocab_size, len(tokenizer)). */
  vocabSize: number;
  /** The config's vocab_size before (the rows the checkpoint has). */
  previousVocabSize: number;
  tokenizerSize: number;
  /** codeTokenIds[level][code] = token id, or -1 for a code that was not added ('used' selection). */
  codeTokenIds: number[][];
  /**
   * Rows to (re)initialise, ascending: every code-token row (some sit on old padding rows) and
   * every row the resize creates.
   */
  reinitRows: Int32Array;
}

/**
 * The model-side vocabulary for a tokenizer that carries the code tokens of `vocab`, given the
 * checkpoint config's `vocab_size`.
 */
export function planVocabulary(files: TokenizerFiles, vocab: SemanticVocabulary, configVocabSize: number): VocabularyPlan {
  if (!Number.isInteger(configVocabSize) || configVocabSize < 1) throw new RangeError(`config vocab_size must be a positive integer, got ${configVocabSize}`);
  const ids = new Map(files.tokenizer.added_tokens.map((t) => [t.content, t.id]));
  let found = 0;
  const codeTokenIds = vocab.codebookSizes.map((size, level) =>
    Array.from({ length: size }, (_, code) => {
      const id = ids.get(codeToken(level, code));
      if (id === undefined) return -1;
      found++;
      return id;
    }),
  );
  if (found === 0) {
    throw new BadInputError('the tokenizer has none of the semantic-ID tokens; add them first (addCodeTokens)', { file: join(files.source, TOKENIZER_FILE), field: 'added_tokens' });
  }
  const size = tokenizerSize(files.tokenizer);
  const vocabSize = Math.max(configVocabSize, size);
  const rows = new Set<number>();
  for (const level of codeTokenIds) for (const id of level) if (id >= 0) rows.add(id);
  for (let r = configVocabSize; r < vocabSize; r++) rows.add(r);
  const reinitRows = Int32Array.from(rows).sort();
  return { vocabSize, previousVocabSize: configVocabSize, tokenizerSize: size, codeTokenIds, reinitRows };
}
