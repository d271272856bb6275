import type { DatasetFormat } from '../config/schema.js';
import { DATASET_FORMATS } from '../config/schema.js';
import { BadInputError } from '../errors.js';
import { firstLine } from './delimited.js';
import { CSV_2023_REQUIRED } from './formats/amazon2023.js';
import { FORMAT_FILES, resolveSourceFiles, type SourceFiles } from './sources.js';

/**
 * Which format a file or directory holds, when the user did not say: every format whose file
 * layout fits (names and required siblings), narrowed by content where names cannot tell (a
 * headerless 2018 rating CSV against a 2023 CSV with its `user_id,parent_asin,...` header).
 * None fits, or more than one: a BadInputError that lists what was found or looked for.
 */
export async function detectFormat(source: string): Promise<SourceFiles> {
  const fits: SourceFiles[] = [];
  const reasons: string[] = [];
  for (const format of DATASET_FORMATS) {
    try {
      const files = await resolveSourceFiles(source, format);
      if (await contentFits(files)) fits.push(files);
      else reasons.push(`${format}: the content does not match`);
    } catch (err) {
      if (!(err instanceof BadInputError)) throw err;
      if (err.message.includes('no such file or directory')) throw err;
      // A format whose main file is absent is no candidate; one that is half there is worth naming.
      if (!/: (no (reviews|inter|train) file \(|not a \S+ (reviews|inter|train) file)/.test(err.message)) reasons.push(`${format}: ${err.message.replace(/^[^:]*: /, '')}`);
    }
  }
  if (fits.length === 1) return fits[0]!;
  if (fits.length === 0) {
    throw new BadInputError(
      `cannot tell the dataset format; expected one of: ${DATASET_FORMATS.map((f) => `${f} (${FORMAT_FILES[f]})`).join('; ')}` +
        `${reasons.length > 0 ? `. Incomplete: ${reasons.join('; ')}` : ''}. Pass --format to name it`,
      { file: source },
    );
  }
  const listed = fits.map((f) => `${f.format} (${Object.values(f.files).map((p) => p.split('/').pop()).join(' + ')})`);
  throw new BadInputError(`ambiguous: the files fit several formats: ${listed.join(', ')}; pass --format, or point at one file`, { file: source });
}

async function contentFits(files: SourceFiles): Promise<boolean> {
  const reviews = files.files.reviews;
  if (reviews === undefined || !/\.csv(\.gz)?$/i.test(reviews)) return true;
  const header = (await firstLine(reviews))?.split(',').map((f) => f.trim()) ?? [];
  const has2023Header = CSV_2023_REQUIRED.every((name) => header.includes(name));
  return files.format === 'amazon2023' ? has2023Header : files.format === 'amazon2018' ? !has2023Header : true;
}
