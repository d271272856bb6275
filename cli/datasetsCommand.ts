import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { listDatasets, resolveDatasetName, type RegistryEntry } from '../datasets/registry.js';
import { BadInputError } from '../src/errors.js';

/** Stands beside every entry whose URLs and digests were never fetched from a machine with internet access. */
export const UNVERIFIED_MARK = 'not verified from this machine';

const RELEASES = ['amazon2014', 'amazon2018', 'amazon2023'] as const;

/**
 * `lcrec datasets list`: every registry entry (or one release's) as a line with its id, format and
 * verification mark, then one indented line per file with its URL.
 */
export function renderDatasetList(release?: string): string {
  if (release !== undefined && !(RELEASES as readonly string[]).includes(release)) {
    throw new BadInputError(`unknown release '${release}'; known: ${RELEASES.join(', ')}`, { field: 'release' });
  }
  const entries = listDatasets().filter((e) => release === undefined || e.release === release);
  const width = Math.max(...entries.map((e) => e.id.length));
  const lines: string[] = [];
  for (const e of entries) {
    lines.push(`${e.id.padEnd(width)}  ${e.format}  ${e.verified ? 'verified' : UNVERIFIED_MARK}`);
    for (const f of e.files) lines.push(`    ${f.url}`);
  }
  const unverified = entries.filter((e) => !e.verified).length;
  lines.push(`${entries.length} datasets${unverified > 0 ? `; ${unverified} ${UNVERIFIED_MARK} (URLs follow the releases' documented layouts; no sha256 known)` : ''}`);
  return `${lines.join('\n')}\n`;
}

/** `lcrec datasets show <name>`: one entry in full, and where `lcrec ingest <name>` keeps its files. */
export function renderDatasetEntry(name: string, dataDir: string): string {
  const e: RegistryEntry = resolveDatasetName(name);
  const dir = join(dataDir, 'datasets', e.id.replaceAll(':', '-'));
  const lines = [
    `${e.id}  (${e.release}, category ${e.category}, variant ${e.variant})`,
    `format:   ${e.format}`,
    `contents: ${e.description}`,
    `status:   ${e.verified ? 'verified' : `${UNVERIFIED_MARK}: the URLs were never fetched from a machine with internet access`}`,
    `local:    ${dir}`,
    'files:',
    ...e.files.map((f) => `  ${f.name}  ${existsSync(join(dir, f.name)) ? '(downloaded)' : '(not downloaded)'}\n    url:    ${f.url}\n    sha256: ${f.sha256 ?? 'unknown'}`),
  ];
  return `${lines.join('\n')}\n`;
}
