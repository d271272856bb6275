/**
 * Turns what a user names as a dataset into local files: a registry name
 * (`amazon2018:gift_cards`) or one or more comma-separated http(s) URLs are downloaded into the
 * data directory (resumable, checked, see src/data/download.ts); a path is used as it is.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { DatasetFormat } from '../src/config/schema.js';
import { downloadFile, isHttpUrl } from '../src/data/download.js';
import type { Progress } from '../src/data/itemText.js';
import { BadInputError } from '../src/errors.js';
import { isSafeSegment } from '../src/store/names.js';
import { isDatasetName, resolveDatasetName, type RegistryEntry, type RegistryFile } from './registry.js';

export interface FetchOptions {
  /** The data directory (`$LCREC_HOME`): downloads go under `<dataDir>/datasets`. */
  dataDir: string;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** Registry lookup; tests point it at a local server. */
  lookup?: (name: string) => RegistryEntry;
}

export interface LocalSource {
  /** A directory or file that `ingest` reads. */
  path: string;
  /** The format the registry names; undefined for paths and URLs (given by the user or detected). */
  format?: DatasetFormat;
}

export async function fetchDatasetSource(source: string, opts: FetchOptions): Promise<LocalSource> {
  if (isDatasetName(source)) {
    const entry = (opts.lookup ?? resolveDatasetName)(source);
    const dir = join(opts.dataDir, 'datasets', entry.id.replaceAll(':', '-'));
    try {
      await downloadAll(entry.files, dir, opts);
    } catch (err) {
      if (!entry.verified && err instanceof Error && !(err instanceof BadInputError && err.message.includes('checksum'))) {
        err.message += ` (registry entry ${entry.id}: its URLs were never verified from a machine with internet access; download the files by hand into ${dir} if the address moved)`;
      }
      throw err;
    }
    return { path: dir, format: entry.format };
  }
  const urls = source.split(',').map((s) => s.trim());
  if (urls.some(isHttpUrl)) {
    if (!urls.every(isHttpUrl)) throw new BadInputError('mix of URLs and other sources; give only http(s) URLs, comma-separated', { field: source });
    const files = urls.map((url) => ({ name: fileNameOf(url), url, sha256: null }));
    const id = createHash('sha256').update(urls.join('\n')).digest('hex').slice(0, 16);
    const dir = join(opts.dataDir, 'datasets', `url-${id}`);
    await downloadAll(files, dir, opts);
    return { path: files.length === 1 ? join(dir, files[0]!.name) : dir };
  }
  return { path: source };
}

async function downloadAll(files: RegistryFile[], dir: string, opts: FetchOptions): Promise<void> {
  for (const f of files) {
    await downloadFile(f.url, join(dir, f.name), {
      sha256: f.sha256,
      signal: opts.signal,
      onProgress: opts.onProgress && ((done, total) => opts.onProgress!({ phase: `download ${f.name}`, done, total })),
    });
  }
}

function fileNameOf(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  if (!isSafeSegment(name)) throw new BadInputError('the URL does not end in a usable file name', { file: url });
  return name;
}
