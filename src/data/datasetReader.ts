import { join } from 'node:path';
import { readParquet } from '../tables/parquet.js';
import { ITEMS_SCHEMA, SEQUENCES_SCHEMA } from './datasetTables.js';

/** An ingested dataset as later stages use it: per-user item sequences and the item count. */
export interface SequenceData {
  /** Full chronological sequence of item ids per user id. */
  sequences: Int32Array[];
  numItems: number;
}

/** Reads `sequences.parquet` and `items.parquet` from an ingestion output directory. */
export async function readSequenceData(dir: string): Promise<SequenceData> {
  const table = await readParquet(join(dir, 'sequences.parquet'), SEQUENCES_SCHEMA);
  const items = table.getChild('items')!;
  const sequences: Int32Array[] = new Array(table.numRows);
  for (let u = 0; u < table.numRows; u++) sequences[u] = Int32Array.from(items.get(u)!.toArray() as Int32Array);
  const itemTable = await readParquet(join(dir, 'items.parquet'), { item_id: ITEMS_SCHEMA.item_id });
  return { sequences, numItems: itemTable.numRows };
}

export type EvalSplit = 'valid' | 'test';

/**
 * Leave-one-out (spec A.6): the training part drops the last two items; valid predicts the
 * second to last from the items before it; test predicts the last from everything before it.
 */
export function trainingPart(sequence: Int32Array): Int32Array {
  return sequence.subarray(0, Math.max(0, sequence.length - 2));
}

export function evalCase(sequence: Int32Array, split: EvalSplit): { history: Int32Array; target: number } {
  const cut = split === 'valid' ? sequence.length - 2 : sequence.length - 1;
  return { history: sequence.subarray(0, cut), target: sequence[cut]! };
}
