import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sha256File } from '../store/digest.js';

/** The project root, found from this file's location. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface EnvironmentFacts {
  packageVersion: string;
  gitCommit: string | null;
  lockfileDigest: string | null;
  node: string;
  platform: string;
  /** The tensor backend of this process; null until a tensor stage selects one. */
  tensorBackend: string | null;
}

export async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(`${PROJECT_ROOT}package.json`, 'utf8')) as { version: string };
  return pkg.version;
}

/** What a run manifest records about the code and machine that produced it. */
export async function environmentFacts(tensorBackend: string | null = null): Promise<EnvironmentFacts> {
  const gitCommit = await promisify(execFile)('git', ['rev-parse', 'HEAD'], { cwd: PROJECT_ROOT }).then(
    (r) => r.stdout.trim(),
    () => null,
  );
  const lockfileDigest = await sha256File(`${PROJECT_ROOT}package-lock.json`).then(
    (d) => `sha256:${d.sha256}`,
    () => null,
  );
  return {
    packageVersion: await packageVersion(),
    gitCommit,
    lockfileDigest,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    tensorBackend,
  };
}
