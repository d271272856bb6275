import { mkdir, readdir, rm } from 'node:fs/promises';
import { BadInputError } from '../errors.js';

/**
 * One path segment of an artifact location: stage, key, attempt, file, workflow or run id. Every
 * store builds paths and object keys only from segments that pass this check, so no user string
 * (`..`, an absolute path, a NUL, `%2e%2e`, a slash) can reach outside the store's root.
 */
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

export function isSafeSegment(value: unknown): value is string {
  return typeof value === 'string' && SEGMENT.test(value);
}

export function safeSegment(kind: string, value: unknown): string {
  if (!isSafeSegment(value)) {
    throw new BadInputError(
      `invalid ${kind} ${JSON.stringify(String(value)).slice(0, 80)}: letters, digits, '_', '.', '-' only, not starting with '.' or '-'`,
    );
  }
  return value;
}

/**
 * The path segment of a run's manifests. Temporal Schedules append the firing time
 * (`...-2026-11-29T08:07:02Z`) to workflow ids; ':' is not a safe segment, so it becomes '_'.
 * The manifest itself keeps the real id.
 */
export function workflowIdSegment(workflowId: string): string {
  return safeSegment('workflow id', workflowId.replaceAll(':', '_'));
}

/** Parses `24h`, `30m`, `90s`, `7d`, `0` into milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new BadInputError(`invalid duration '${text}': use e.g. 90s, 30m, 24h, 7d`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 's'] ?? 1000;
  return Number(match[1]) * unit;
}

/**
 * The files an attempt publishes: plain files of its workspace with safe names, in sorted order;
 * `.tmp-` files are writes that never finished.
 */
export async function publishableFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !e.name.includes('.tmp-') && isSafeSegment(e.name))
    .map((e) => e.name)
    .sort();
}

/** An empty attempt workspace: a retried attempt with the same id never trusts a crash's leftovers. */
export async function freshWorkspace(dir: string): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}
