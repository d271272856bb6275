import { access, constants, link, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import type { ArtifactFile, ArtifactManifest, ArtifactStore, Attempt, OrphanAttempt, RunManifest, SweepReport } from './artifactStore.js';
import { sha256File } from './digest.js';
import { freshWorkspace, isSafeSegment, publishableFiles, safeSegment, workflowIdSegment } from './names.js';

/**
 * Artifact store in a local directory:
 *   <root>/<stage>/<key>/attempts/<attempt>/<files>   written by one attempt
 *   <root>/<stage>/<key>/manifest.json                published last, never overwritten
 *   <root>/runs/<workflowId>/<runId>.json             run manifests
 * Publishing writes the manifest to a temporary name and hard-links it into place: link() fails
 * when the target exists, so of two racing attempts exactly one publishes.
 */
export class LocalArtifactStore implements ArtifactStore {
  constructor(readonly root: string) {}

  get location(): string {
    return this.root;
  }

  private keyDir(stage: string, key: string): string {
    return join(this.root, safeSegment('stage name', stage), safeSegment('artifact key', key));
  }

  private attemptDir(stage: string, key: string, attempt: string): string {
    return join(this.keyDir(stage, key), 'attempts', safeSegment('attempt id', attempt));
  }

  async check(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root, constants.W_OK | constants.R_OK);
  }

  async getManifest(stage: string, key: string): Promise<ArtifactManifest | undefined> {
    const file = join(this.keyDir(stage, key), 'manifest.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return undefined;
    }
    return parseManifest(text, file);
  }

  async beginAttempt(stage: string, key: string, attempt: string): Promise<Attempt> {
    return { stage, key, attempt, dir: await freshWorkspace(this.attemptDir(stage, key, attempt)) };
  }

  async publish(
    attempt: Attempt,
    meta: { summary: Record<string, unknown>; keyInputs: unknown },
    opts: { replace?: boolean } = {},
  ): Promise<{ manifest: ArtifactManifest; published: boolean }> {
    const names = await publishableFiles(attempt.dir);
    const files: ArtifactFile[] = [];
    for (const name of names) files.push({ name, ...(await sha256File(join(attempt.dir, name))) });
    const manifest: ArtifactManifest = {
      schema: 'lcrec.artifact/1',
      stage: attempt.stage,
      key: attempt.key,
      attempt: attempt.attempt,
      createdAt: new Date().toISOString(),
      files,
      summary: meta.summary,
      keyInputs: meta.keyInputs,
    };
    const target = join(this.keyDir(attempt.stage, attempt.key), 'manifest.json');
    const scratch = `${target}.tmp-${attempt.attempt}`;
    await writeFile(scratch, JSON.stringify(manifest, null, 2));
    if (opts.replace) {
      // rename() replaces the target atomically: readers see the old manifest or the new one.
      await rename(scratch, target);
      return { manifest, published: true };
    }
    try {
      await link(scratch, target);
      return { manifest, published: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const winner = await this.getManifest(attempt.stage, attempt.key);
      if (!winner) throw err;
      return { manifest: winner, published: false };
    } finally {
      await rm(scratch, { force: true });
    }
  }

  async deleteKey(stage: string, key: string): Promise<void> {
    const dir = this.keyDir(stage, key);
    await rm(join(dir, 'manifest.json'), { force: true });
    await rm(dir, { recursive: true, force: true });
  }

  async abandon(attempt: Attempt): Promise<void> {
    await rm(attempt.dir, { recursive: true, force: true });
  }

  async localDir(manifest: ArtifactManifest): Promise<string> {
    const dir = this.attemptDir(manifest.stage, manifest.key, manifest.attempt);
    for (const file of manifest.files) {
      const size = await stat(join(dir, safeSegment('file name', file.name))).then((s) => s.size, () => -1);
      if (size !== file.bytes) {
        throw new Error(
          `artifact ${manifest.stage}/${manifest.key}: file ${file.name} is ${size < 0 ? 'missing' : `${size} bytes, manifest says ${file.bytes}`}`,
        );
      }
    }
    return dir;
  }

  private runDir(workflowId: string): string {
    return join(this.root, 'runs', workflowIdSegment(workflowId));
  }

  async putRunManifest(manifest: RunManifest): Promise<void> {
    const dir = this.runDir(manifest.workflowId);
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${safeSegment('run id', manifest.runId)}.json`);
    const scratch = `${file}.tmp-${process.pid}-${Date.now()}`;
    await writeFile(scratch, JSON.stringify(manifest, null, 2));
    await rename(scratch, file);
  }

  async getRunManifest(workflowId: string): Promise<RunManifest | undefined> {
    const runs = await this.readRuns(this.runDir(workflowId));
    return runs.at(-1);
  }

  async listRunManifests(): Promise<RunManifest[]> {
    const ids = await readdir(join(this.root, 'runs')).catch(() => [] as string[]);
    const latest: RunManifest[] = [];
    for (const id of ids) {
      const run = (await this.readRuns(join(this.root, 'runs', id))).at(-1);
      if (run) latest.push(run);
    }
    return latest.sort((a, b) => String(a.startedAt ?? '').localeCompare(String(b.startedAt ?? '')));
  }

  async sweep({ olderThanMs, dryRun = false }: { olderThanMs: number; dryRun?: boolean }): Promise<SweepReport> {
    const cutoff = Date.now() - olderThanMs;
    const orphans: OrphanAttempt[] = [];
    for (const stage of await subdirs(this.root)) {
      if (stage === 'runs') continue;
      for (const key of await subdirs(join(this.root, stage))) {
        const attempts = await subdirs(join(this.root, stage, key, 'attempts'));
        if (attempts.length === 0) continue;
        const published = await this.getManifest(stage, key).catch(() => undefined);
        for (const attempt of attempts) {
          if (attempt === published?.attempt) continue;
          const dir = join(this.root, stage, key, 'attempts', attempt);
          const usage = await dirUsage(dir);
          if (usage.newest > cutoff) continue;
          orphans.push({ stage, key, attempt, files: usage.files, bytes: usage.bytes, lastModified: new Date(usage.newest).toISOString() });
          if (!dryRun) await rm(dir, { recursive: true, force: true });
        }
      }
    }
    return { orphans, incompleteUploads: 0, removed: !dryRun };
  }

  /** Every run of one workflow id, oldest first. */
  private async readRuns(dir: string): Promise<RunManifest[]> {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'));
    const runs: RunManifest[] = [];
    for (const name of names) {
      runs.push(JSON.parse(await readFile(join(dir, name), 'utf8')) as RunManifest);
    }
    return runs.sort((a, b) => String(a.startedAt ?? '').localeCompare(String(b.startedAt ?? '')));
  }
}

/** Names of the safe-named subdirectories of `dir` (none when it does not exist). */
async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && isSafeSegment(e.name)).map((e) => e.name).sort();
}

/** Files, bytes and the newest modification time (the directory's own when empty) under `dir`. */
async function dirUsage(dir: string): Promise<{ files: number; bytes: number; newest: number }> {
  const usage = { files: 0, bytes: 0, newest: (await stat(dir)).mtimeMs };
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const inner = await dirUsage(path);
      usage.files += inner.files;
      usage.bytes += inner.bytes;
      usage.newest = Math.max(usage.newest, inner.newest);
    } else if (entry.isFile()) {
      const info = await stat(path);
      usage.files += 1;
      usage.bytes += info.size;
      usage.newest = Math.max(usage.newest, info.mtimeMs);
    }
  }
  return usage;
}

function parseManifest(text: string, file: string): ArtifactManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadInputError('artifact manifest is not valid JSON', { file });
  }
  const m = value as Partial<ArtifactManifest>;
  if (m.schema !== 'lcrec.artifact/1' || !Array.isArray(m.files) || typeof m.key !== 'string') {
    throw new BadInputError('not an lcrec artifact manifest', { file });
  }
  return m as ArtifactManifest;
}
