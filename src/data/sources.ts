import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { DatasetFormat } from '../config/schema.js';
import { DATASET_FORMATS } from '../config/schema.js';
import { BadInputError } from '../errors.js';

/** The files of one dataset, by role (reviews, meta, inter, item). */
export interface SourceFiles {
  format: DatasetFormat;
  files: Record<string, string>;
}

interface FormatLayout {
  /** Role -> file name pattern; the first role is the one a user may point at directly. */
  roles: Record<string, RegExp>;
  /** Given the main file, the expected name of each other role's file. */
  siblings: (mainName: string) => Record<string, RegExp>;
}

const LAYOUTS: Record<DatasetFormat, FormatLayout> = {
  amazon2014: {
    roles: { reviews: /^reviews_(.+?)(_5)?\.json(\.gz)?$/, meta: /^meta_(.+)\.json(\.gz)?$/ },
    siblings: (main) => {
      const category = /^reviews_(.+?)(_5)?\.json/.exec(main)?.[1] ?? '';
      return { meta: new RegExp(`^meta_${escapeRegex(category)}\\.json(\\.gz)?$`) };
    },
  },
  lcrec: {
    roles: { inter: /^(.+)\.inter\.json$/, item: /^(.+)\.item\.json$/ },
    siblings: (main) => ({ item: new RegExp(`^${escapeRegex(main.replace(/\.inter\.json$/, ''))}\\.item\\.json$`) }),
  },
};

export function assertFormat(format: string): DatasetFormat {
  if (!(DATASET_FORMATS as readonly string[]).includes(format)) {
    throw new BadInputError(`unknown format '${format}'; valid formats: ${DATASET_FORMATS.join(', ')}`, { field: 'format' });
  }
  return format as DatasetFormat;
}

/**
 * Finds a dataset's files: `source` is a directory holding exactly one file per role, or the main
 * file (reviews / .inter.json) with its siblings beside it.
 */
export async function resolveSourceFiles(source: string, format: DatasetFormat): Promise<SourceFiles> {
  const layout = LAYOUTS[format];
  const info = await stat(source).catch(() => undefined);
  if (!info) throw new BadInputError('no such file or directory', { file: source });
  const [mainRole, mainPattern] = Object.entries(layout.roles)[0]!;
  let dir: string;
  let mainName: string;
  if (info.isDirectory()) {
    dir = source;
    mainName = pickOne(await listFiles(dir), mainPattern, dir, `${mainRole} file (${mainPattern.source})`);
  } else {
    dir = dirname(source);
    mainName = basename(source);
    if (!mainPattern.test(mainName)) {
      throw new BadInputError(`not a ${format} ${mainRole} file: expected a name matching ${mainPattern.source}`, { file: source });
    }
  }
  const files: Record<string, string> = { [mainRole]: join(dir, mainName) };
  const names = await listFiles(dir);
  for (const [role, pattern] of Object.entries(layout.siblings(mainName))) {
    files[role] = join(dir, pickOne(names, pattern, dir, `${role} file for ${mainName} (${pattern.source})`));
  }
  return { format, files };
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name).sort();
}

function pickOne(names: string[], pattern: RegExp, dir: string, what: string): string {
  const hits = names.filter((n) => pattern.test(n));
  if (hits.length === 0) throw new BadInputError(`no ${what} found`, { file: dir });
  if (hits.length > 1) throw new BadInputError(`several candidates for the ${what}: ${hits.join(', ')}; point at one file`, { file: dir });
  return hits[0]!;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
