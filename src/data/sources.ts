import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { DatasetFormat } from '../config/schema.js';
import { DATASET_FORMATS } from '../config/schema.js';
import { BadInputError } from '../errors.js';

/** The files of one dataset, by role (reviews, meta, inter, item, train, ...). */
export interface SourceFiles {
  format: DatasetFormat;
  files: Record<string, string>;
}

interface Sibling {
  pattern: RegExp;
  /** An optional sibling (RecBole's `.item`) may be absent; then the role is left out. */
  optional?: boolean;
}

interface FormatLayout {
  /** The role of the file a user may point at directly, and its name pattern. */
  main: { role: string; pattern: RegExp };
  /** Given the main file's name, the other roles' expected names. */
  siblings: (mainName: string) => Record<string, Sibling>;
}

const stem = (name: string, pattern: RegExp) => pattern.exec(name)?.[1] ?? '';

const AMAZON2014_REVIEWS = /^reviews_(.+?)(?:_5)?\.json(?:\.gz)?$/;
// 2018: `<Cat>_5.json.gz`, the full `<Cat>.json.gz` or the rating-only `<Cat>.csv`; never a meta_
// file, a 2014 reviews_ file or LC-Rec's `.inter.json` / `.item.json`.
const AMAZON2018_REVIEWS = /^(?!reviews_|meta_)(?!.*\.(?:inter|item)\.json$)(.+?)(?:_5)?\.(?:json|csv)(?:\.gz)?$/;
// 2023: `<Cat>.jsonl`, the rating-only `<Cat>.csv`, or the benchmark splits' `<Cat>.train.csv`
// (whose `.valid` / `.test` siblings are found from it, never taken as the main file).
const AMAZON2023_REVIEWS = /^(?!meta_)(?!.*\.(?:valid|test)\.csv(?:\.gz)?$)(.+?)(?:\.train(?=\.csv))?\.(?:jsonl|csv)(?:\.gz)?$/;
const AMAZON2023_SPLITS = /\.train\.csv(\.gz)?$/;
const RECBOLE_INTER = /^(?!.*\.(?:train|valid|test)\.inter$)(.+)\.inter$/;
const RECBOLE_TRAIN = /^(.+)\.train\.inter$/;
const LCREC_INTER = /^(.+)\.inter\.json$/;

const LAYOUTS: Record<DatasetFormat, FormatLayout> = {
  amazon2014: {
    main: { role: 'reviews', pattern: AMAZON2014_REVIEWS },
    siblings: (main) => ({ meta: { pattern: new RegExp(`^meta_${escapeRegex(stem(main, AMAZON2014_REVIEWS))}\\.json(\\.gz)?$`) } }),
  },
  lcrec: {
    main: { role: 'inter', pattern: LCREC_INTER },
    siblings: (main) => ({ item: { pattern: new RegExp(`^${escapeRegex(stem(main, LCREC_INTER))}\\.item\\.json$`) } }),
  },
  amazon2018: {
    main: { role: 'reviews', pattern: AMAZON2018_REVIEWS },
    siblings: (main) => ({ meta: { pattern: new RegExp(`^meta_${escapeRegex(stem(main, AMAZON2018_REVIEWS))}\\.json(\\.gz)?$`) } }),
  },
  amazon2023: {
    main: { role: 'reviews', pattern: AMAZON2023_REVIEWS },
    siblings: (main) => {
      const c = escapeRegex(stem(main, AMAZON2023_REVIEWS));
      const siblings: Record<string, Sibling> = {};
      if (AMAZON2023_SPLITS.test(main)) {
        siblings.valid = { pattern: new RegExp(`^${c}\\.valid\\.csv(\\.gz)?$`) };
        siblings.test = { pattern: new RegExp(`^${c}\\.test\\.csv(\\.gz)?$`) };
      }
      siblings.meta = { pattern: new RegExp(`^meta_${c}\\.jsonl(\\.gz)?$`) };
      return siblings;
    },
  },
  recbole: {
    main: { role: 'inter', pattern: RECBOLE_INTER },
    siblings: (main) => ({ item: { pattern: new RegExp(`^${escapeRegex(stem(main, RECBOLE_INTER))}\\.item$`), optional: true } }),
  },
  'recbole-splits': {
    main: { role: 'train', pattern: RECBOLE_TRAIN },
    siblings: (main) => {
      const d = escapeRegex(stem(main, RECBOLE_TRAIN));
      // UniSRec ships `<D>.text` (item_id, text) where RecBole has `<D>.item`.
      return {
        valid: { pattern: new RegExp(`^${d}\\.valid\\.inter$`) },
        test: { pattern: new RegExp(`^${d}\\.test\\.inter$`) },
        item: { pattern: new RegExp(`^${d}\\.(item|text)$`), optional: true },
      };
    },
  },
};

export function assertFormat(format: string): DatasetFormat {
  if (!(DATASET_FORMATS as readonly string[]).includes(format)) {
    throw new BadInputError(`unknown format '${format}'; valid formats: ${DATASET_FORMATS.join(', ')}`, { field: 'format' });
  }
  return format as DatasetFormat;
}

/** A format's files as a person would name them, for messages. */
export const FORMAT_FILES: Record<DatasetFormat, string> = {
  amazon2014: 'reviews_<Cat>_5.json.gz + meta_<Cat>.json.gz',
  lcrec: '<D>.inter.json + <D>.item.json',
  amazon2018: '<Cat>_5.json.gz or <Cat>.csv + meta_<Cat>.json.gz',
  amazon2023: '<Cat>.jsonl, <Cat>.csv (user_id,parent_asin,rating,timestamp) or <Cat>.train/.valid/.test.csv (benchmark splits) + meta_<Cat>.jsonl',
  recbole: '<D>.inter [+ <D>.item]',
  'recbole-splits': '<D>.train.inter + <D>.valid.inter + <D>.test.inter [+ <D>.item]',
};

/**
 * Finds a dataset's files: `source` is a directory holding exactly one file per role, or the main
 * file (reviews / .inter.json / .inter / .train.inter) with its siblings beside it.
 */
export async function resolveSourceFiles(source: string, format: DatasetFormat): Promise<SourceFiles> {
  const layout = LAYOUTS[format];
  const info = await stat(source).catch(() => undefined);
  if (!info) throw new BadInputError('no such file or directory', { file: source });
  const { role: mainRole, pattern: mainPattern } = layout.main;
  let dir: string;
  let mainName: string;
  if (info.isDirectory()) {
    dir = source;
    mainName = pickOne(await listFiles(dir), mainPattern, dir, `${mainRole} file (${mainPattern.source})`)!;
  } else {
    dir = dirname(source);
    mainName = basename(source);
    if (!mainPattern.test(mainName)) {
      throw new BadInputError(`not a ${format} ${mainRole} file: expected a name matching ${mainPattern.source}`, { file: source });
    }
  }
  const files: Record<string, string> = { [mainRole]: join(dir, mainName) };
  const names = await listFiles(dir);
  for (const [role, { pattern, optional }] of Object.entries(layout.siblings(mainName))) {
    const name = pickOne(names, pattern, dir, `${role} file for ${mainName} (${pattern.source})`, optional);
    if (name !== undefined) files[role] = join(dir, name);
  }
  return { format, files };
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  // Partial downloads and our own scratch files are never dataset files.
  return entries.filter((e) => e.isFile() && !e.name.endsWith('.part') && !e.name.startsWith('.')).map((e) => e.name).sort();
}

function pickOne(names: string[], pattern: RegExp, dir: string, what: string, optional = false): string | undefined {
  const hits = names.filter((n) => pattern.test(n));
  if (hits.length === 0) {
    if (optional) return undefined;
    throw new BadInputError(`no ${what} found`, { file: dir });
  }
  if (hits.length > 1) throw new BadInputError(`several candidates for the ${what}: ${hits.join(', ')}; point at one file`, { file: dir });
  return hits[0]!;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
