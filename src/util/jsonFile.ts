import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { BadInputError } from '../errors.js';

/** A JSON file's value; a missing file or broken JSON is bad input naming the file. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new BadInputError('missing file', { file: path });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadInputError(`not JSON (${(err as Error).message})`, { file: path });
  }
}

/** Validates `value` read from `file`; the error names the file and the first offending field. */
export function parseWithSchema<T>(schema: z.ZodType<T>, value: unknown, file: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new BadInputError(issue.message, { file, field: issue.path.join('.') || '(root)' });
}
