import { link, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import type { ArtifactFile, ArtifactManifest, ArtifactStore, Attempt, RunManifest } from './artifactStore.js';
import { sha256File } from './digest.js';

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
    if (!/^[\w.-]+$/.test(stage) || !/^[\w.-]+$/.test(key)) throw new Error(`invalid artifact name ${stage}/${key}`);
    return join(this.root, stage, key);
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
    const dir = join(this.keyDir(stage, key), 'attempts', attempt);
    // A retried attempt with the same id starts clean: leftovers of a crash are not trusted.
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return { stage, key, attempt, dir };
  }

  async publish(
    attempt: Attempt,
    meta: { summary: Record<string, unknown>; keyInputs: unknown },
  ): Promise<{ manifest: ArtifactManifest; published: boolean }> {
    const names = (await readdir(attempt.dir, { withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.includes('.tmp-'))
      .map((e) => e.name)
      .sort();
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

  async abandon(attempt: Attempt): Promise<void> {
    await rm(attempt.dir, { recursive: true, force: true });
  }

  async localDir(manifest: ArtifactManifest): Promise<string> {
    const dir = join(this.keyDir(manifest.stage, manifest.key), 'attempts', manifest.attempt);
    for (const file of manifest.files) {
      const size = await stat(join(dir, file.name)).then((s) => s.size, () => -1);
      if (size !== file.bytes) {
        throw new Error(
          `artifact ${manifest.stage}/${manifest.key}: file ${file.name} is ${size < 0 ? 'missing' : `${size} bytes, manifest says ${file.bytes}`}`,
        );
      }
    }
    return dir;
  }

  private runDir(workflowId: string): string {
    if (!/^[\w.-]+$/.test(workflowId)) throw new Error(`invalid workflow id ${workflowId}`);
    return join(this.root, 'runs', workflowId);
  }

  async putRunManifest(manifest: RunManifest): Promise<void> {
    const dir = this.runDir(manifest.workflowId);
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${manifest.runId}.json`);
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
