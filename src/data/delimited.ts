/**
 * Delimited text (the Amazon rating CSVs, RecBole's tab-separated atomic files), one record per
 * line. Fields may be double-quoted with `""` for a literal quote (RecBole writes its `.item`
 * files that way); a record never spans lines in these formats, so a line is a record.
 */
import { BadInputError } from '../errors.js';
import { readLines, type ReadLinesOptions } from './lineReader.js';

export interface DelimitedRow {
  fields: string[];
  lineNumber: number;
}

/** Splits one line on `separator`, honouring double-quoted fields. */
export function splitDelimited(line: string, separator: string, at: { file: string; line: number }): string[] {
  if (!line.includes('"')) return line.split(separator);
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        const quote = line.indexOf('"', j);
        if (quote === -1) throw new BadInputError('a quoted field is not closed', at);
        value += line.slice(j, quote);
        if (line[quote + 1] === '"') {
          value += '"';
          j = quote + 2;
          continue;
        }
        j = quote + 1;
        break;
      }
      if (j < line.length && line[j] !== separator) throw new BadInputError(`unexpected text after a quoted field at column ${j + 1}`, at);
      fields.push(value);
      if (j >= line.length) return fields;
      i = j + 1;
    } else {
      const next = line.indexOf(separator, i);
      if (next === -1) {
        fields.push(line.slice(i));
        return fields;
      }
      fields.push(line.slice(i, next));
      i = next + 1;
    }
  }
}

/**
 * Streams the non-blank rows of a delimited file (plain or gzip). With `columns`, every row must
 * have exactly that many fields: a wrong count names the file and line.
 */
export async function* readDelimited(
  file: string,
  separator: string,
  opts: ReadLinesOptions & { columns?: number } = {},
): AsyncGenerator<DelimitedRow> {
  for await (const { line, lineNumber } of readLines(file, opts)) {
    if (line.trim() === '') continue;
    const at = { file, line: lineNumber };
    const fields = splitDelimited(line, separator, at);
    if (opts.columns !== undefined && fields.length !== opts.columns) {
      throw new BadInputError(`expected ${opts.columns} columns, found ${fields.length}`, at);
    }
    yield { fields, lineNumber };
  }
}

/** The first line of a (plain or gzipped) text file, or undefined when the file is empty. */
export async function firstLine(file: string): Promise<string | undefined> {
  try {
    for await (const { line } of readLines(file)) return line;
  } catch (err) {
    if (err instanceof BadInputError) return undefined;
    throw err;
  }
  return undefined;
}

/** A timestamp field: a finite number, else an error naming file, line and field. */
export function parseTimestamp(text: string, at: { file: string; line: number }, field: string): number {
  const value = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(value)) throw new BadInputError(`timestamp is not a number: ${JSON.stringify(text)}`, { ...at, field });
  return value;
}
