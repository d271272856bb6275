/**
 * The semantic-ID stage's files, byte-identical for identical inputs (no timestamps, no timings,
 * fixed key and row order):
 *   semantic_ids.parquet   item_id int32, codes List<Int32>, tokens utf8; row = item_id
 *   collision_report.json  the CollisionReport of assign.ts
 *   vocabulary.json        the tokens to add to the LLM (vocabulary.ts)
 *   trie.json              the prefix trie of valid IDs (trie.ts)
 * `readSemanticIds` reads them back for the LLM stages and checks that they agree.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { BadInputError } from '../errors.js';
import { listOfInt32Vector, readParquet, writeParquet } from '../tables/parquet.js';
import type { CollisionReport, SemanticIdAssignment } from './assign.js';
import { SemanticIdTrie } from './trie.js';
import { SemanticVocabulary } from './vocabulary.js';
import { readJsonFile } from '../util/jsonFile.js';

export const SEMANTIC_IDS_FILE = 'semantic_ids.parquet';
export const COLLISION_REPORT_FILE = 'collision_report.json';
export const VOCABULARY_FILE = 'vocabulary.json';
export const TRIE_FILE = 'trie.json';
export const SEMID_OUTPUTS = [SEMANTIC_IDS_FILE, COLLISION_REPORT_FILE, VOCABULARY_FILE, TRIE_FILE] as const;

export const SEMANTIC_IDS_SCHEMA = {
  item_id: new arrow.Int32(),
  codes: new arrow.List(new arrow.Field('item', new arrow.Int32(), true)),
  tokens: new arrow.Utf8(),
};

export async function writeSemanticIds(dir: string, assignment: SemanticIdAssignment): Promise<void> {
  const { codes, items, levels, codebookSizes, extraLevel, report } = assignment;
  const vocabulary = new SemanticVocabulary(codebookSizes, extraLevel);
  const trie = SemanticIdTrie.build(codes, levels); // also proves there is no collision
  const rows = Array.from({ length: items }, (_, i) => codes.subarray(i * levels, (i + 1) * levels));
  const table = new arrow.Table({
    item_id: arrow.makeVector(Int32Array.from({ length: items }, (_, i) => i)),
    codes: listOfInt32Vector(rows),
    tokens: arrow.vectorFromArray(vocabulary.allItemTokens(codes), new arrow.Utf8()),
  });
  await writeParquet(join(dir, SEMANTIC_IDS_FILE), table);
  await writeFile(join(dir, COLLISION_REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(dir, VOCABULARY_FILE), `${JSON.stringify(vocabulary.toJSON())}\n`);
  await writeFile(join(dir, TRIE_FILE), `${JSON.stringify(trie.toJSON())}\n`);
}

export interface SemanticIds {
  /** items x levels, row-major, row = item_id. */
  codes: Int32Array;
  items: number;
  levels: number;
  /** Token string per item. */
  tokens: string[];
  vocabulary: SemanticVocabulary;
  trie: SemanticIdTrie;
  report: CollisionReport;
}

/** Reads the four files and checks that parquet, vocabulary and trie describe the same IDs. */
export async function readSemanticIds(dir: string): Promise<SemanticIds> {
  const file = join(dir, SEMANTIC_IDS_FILE);
  const vocabulary = SemanticVocabulary.fromJSON(await readJsonFile(join(dir, VOCABULARY_FILE)), join(dir, VOCABULARY_FILE));
  const trie = SemanticIdTrie.fromJSON(await readJsonFile(join(dir, TRIE_FILE)), join(dir, TRIE_FILE));
  const report = (await readJsonFile(join(dir, COLLISION_REPORT_FILE))) as CollisionReport;
  const table = await readParquet(file, SEMANTIC_IDS_SCHEMA);
  const items = table.numRows;
  const levels = vocabulary.levels;
  if (trie.items !== items || trie.depth !== levels) {
    throw new BadInputError(`the trie holds ${trie.items} items of ${trie.depth} levels, the table ${items} of ${levels}`, { file: join(dir, TRIE_FILE) });
  }
  const ids = table.getChild('item_id')!;
  const codeLists = table.getChild('codes')!;
  const tokenColumn = table.getChild('tokens')!;
  const codes = new Int32Array(items * levels);
  const tokens: string[] = new Array(items);
  for (let i = 0; i < items; i++) {
    if (ids.get(i) !== i) throw new BadInputError(`row ${i} has item_id ${ids.get(i)}; expected ${i}`, { file, field: 'item_id' });
    const list = codeLists.get(i) as arrow.Vector<arrow.Int32> | null;
    const row = list?.toArray() as Int32Array | undefined;
    const text = tokenColumn.get(i) as string | null;
    if (!row || row.length !== levels) throw new BadInputError(`row ${i}: expected ${levels} codes`, { file, field: 'codes' });
    const parsed = text === null ? undefined : vocabulary.tryParse(text);
    if (!parsed || parsed.some((c, l) => c !== row[l])) throw new BadInputError(`row ${i}: tokens ${JSON.stringify(text)} do not spell the codes [${row}]`, { file, field: 'tokens' });
    if (trie.itemAt(Array.from(row)) !== i) throw new BadInputError(`row ${i}: the trie does not lead from [${row}] to item ${i}`, { file, field: 'codes' });
    codes.set(row, i * levels);
    tokens[i] = text as string;
  }
  return { codes, items, levels, tokens, vocabulary, trie, report };
}

