import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import StreamObject from 'stream-json/streamers/StreamObject.js';
import { BadInputError } from '../../errors.js';
import type { InteractionLog } from '../interactionLog.js';
import { itemTextFromRecord } from '../itemText.js';
import type { RawDataset, ReadOptions } from './amazon2014.js';

/**
 * LC-Rec's preprocessed format: `<D>.inter.json` (`{"<user idx>": [item idx, ...]}`, chronological)
 * and `<D>.item.json` (`{"<item idx>": {title, description, brand, categories, ...}}`). Both are
 * streamed one top-level member at a time. The data carries no timestamps: order is the list order.
 */
export async function readLcRec(files: { inter: string; item: string }, log: InteractionLog, opts: ReadOptions = {}): Promise<RawDataset> {
  log.hasTimestamps = false;
  // JSON.parse keeps a repeated item key's last text; so does this reader.
  log.textPrecedence = 'last';
  let records = 0;
  // JSON.parse would keep a repeated key's last list; streaming sees both, and merging them would interleave two histories.
  const seenUsers = new Set<string>();
  for await (const { key, value } of streamMembers(files.inter, 'interactions', opts)) {
    if (!Array.isArray(value)) throw new BadInputError('expected a list of item indices', { file: files.inter, field: key });
    if (seenUsers.has(key)) throw new BadInputError(`user '${key}' is listed twice`, { file: files.inter, field: key });
    seenUsers.add(key);
    value.forEach((item, position) => {
      if (!Number.isInteger(item) || (item as number) < 0) {
        throw new BadInputError(`expected a non-negative integer item index, found ${JSON.stringify(item)}`, {
          file: files.inter,
          field: `${key}[${position}]`,
        });
      }
      log.add(key, String(item), position);
      records++;
    });
  }

  let metaRecords = 0;
  for await (const { key, value } of streamMembers(files.item, 'items', opts)) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new BadInputError('expected an object with the item text', { file: files.item, field: key });
    }
    metaRecords++;
    const record = value as Record<string, unknown>;
    await log.offerItemText(key, () => itemTextFromRecord(record, typeof record.asin === 'string' && record.asin !== '' ? record.asin : null));
  }
  return { counts: { records, metaRecords }, idsAreIndices: true };
}

async function* streamMembers(file: string, phase: string, opts: ReadOptions): AsyncGenerator<{ key: string; value: unknown }> {
  const info = await stat(file).catch(() => undefined);
  if (!info) throw new BadInputError('no such file', { file });
  if (info.size === 0) throw new BadInputError('file is empty', { file });
  const input = createReadStream(file, { signal: opts.signal });
  let read = 0;
  input.on('data', (chunk) => {
    read += chunk.length;
    opts.onProgress?.({ phase, done: read, total: info.size });
  });
  try {
    for await (const member of input.pipe(StreamObject.withParser())) yield member as { key: string; value: unknown };
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    throw new BadInputError(`not a JSON object of the LC-Rec format: ${await locateJsonError(file, err as Error)}`, { file });
  }
}

/** The streaming parser reports no position; re-parse once to name the line of a syntax error. */
async function locateJsonError(file: string, err: Error): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined || text.length > 256 * 1024 * 1024) return err.message;
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'the top level must be an object';
    return err.message;
  } catch (parseError) {
    const message = (parseError as Error).message;
    const position = /position (\d+)/.exec(message)?.[1];
    if (position === undefined) return message;
    const line = text.slice(0, Number(position)).split('\n').length;
    return `${message.replace(/ in JSON at position \d+.*/, '')} at line ${line}`;
  }
}
