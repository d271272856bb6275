import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BadInputError } from '../errors.js';
import { publishDir } from '../util/atomicDir.js';
import type { ArtifactFile, ArtifactManifest, ArtifactStore, Attempt, OrphanAttempt, RunManifest, SweepReport } from './artifactStore.js';
import { sha256File } from './digest.js';
import { freshWorkspace, isSafeSegment, publishableFiles, safeSegment, workflowIdSegment } from './names.js';
import {
  createS3Client,
  describeS3Error,
  formatS3Uri,
  isNotFound,
  isPreconditionFailed,
  type S3Location,
  type S3Settings,
} from './s3Client.js';

export interface S3StoreOptions {
  settings: S3Settings;
  /** Local directory for attempt workspaces and verified downloads (under the data directory). */
  cacheDir: string;
  /** A ready client (tests add middleware); default: one built from `settings`. */
  client?: S3Client;
  /** Multipart part size in bytes (min 5 MiB); files up to this size go up in one PUT. */
  partSize?: number;
}

const MANIFEST = 'manifest.json';
const VERIFIED = '.lcrec-verified.json';
/**
 * Written first into an attempt's prefix, naming the files it is about to upload: a sweep finds a
 * crashed attempt by it even when no file completed, and aborts its unfinished multipart uploads by
 * their exact keys (MinIO lists multipart uploads only by exact object key, not by prefix).
 */
const ATTEMPT_MARKER = '.lcrec-attempt.json';

/**
 * Artifact store in an S3 bucket, same layout and publish rule as the local store:
 *   <prefix>/<stage>/<key>/attempts/<attempt>/<files>   uploaded by one attempt
 *   <prefix>/<stage>/<key>/manifest.json                written last, with If-None-Match: *
 *   <prefix>/runs/<workflowId>/<runId>.json             run manifests
 * S3 has no rename, so nothing is copied: the manifest points at the attempt's objects, and the
 * conditional put lets exactly one of two racing attempts publish. A stage writes into a local
 * workspace; `publish` streams its files up, then writes the manifest. `localDir` streams a
 * manifest's files down into a local cache, checking every sha256, and reuses a verified copy.
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly partSize: number;

  constructor(
    readonly root: S3Location,
    private readonly opts: S3StoreOptions,
  ) {
    this.location = formatS3Uri(root);
    this.client = opts.client ?? createS3Client(opts.settings);
    this.partSize = Math.max(opts.partSize ?? 8 * 1024 * 1024, 5 * 1024 * 1024);
  }

  private objectKey(...segments: string[]): string {
    return [this.root.prefix, ...segments].filter((s) => s !== '').join('/');
  }

  private keyPrefix(stage: string, key: string): string {
    return this.objectKey(safeSegment('stage name', stage), safeSegment('artifact key', key));
  }

  private attemptPrefix(stage: string, key: string, attempt: string): string {
    return `${this.keyPrefix(stage, key)}/attempts/${safeSegment('attempt id', attempt)}`;
  }

  /** Runs one S3 call; any failure becomes one clear error naming endpoint and bucket. */
  private async call<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw describeS3Error(err, { settings: this.opts.settings, bucket: this.root.bucket, action });
    }
  }

  private fail(err: unknown, action: string): Error {
    return describeS3Error(err, { settings: this.opts.settings, bucket: this.root.bucket, action });
  }

  async check(): Promise<void> {
    await this.call('list', () =>
      this.client.send(new ListObjectsV2Command({ Bucket: this.root.bucket, Prefix: this.objectKey(''), MaxKeys: 1 })),
    );
  }

  /** A small JSON object, or undefined when it does not exist. */
  private async getJson(key: string): Promise<{ text: string } | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.root.bucket, Key: key }));
      if ((res.ContentLength ?? 0) > 64 * 1024 * 1024) throw new BadInputError('manifest larger than 64 MiB', { file: this.uri(key) });
      return { text: (await res.Body?.transformToString('utf8')) ?? '' };
    } catch (err) {
      if (err instanceof BadInputError) throw err;
      if (isNotFound(err)) return undefined;
      throw this.fail(err, 'read');
    }
  }

  private uri(key: string): string {
    return `s3://${this.root.bucket}/${key}`;
  }

  async getManifest(stage: string, key: string): Promise<ArtifactManifest | undefined> {
    const objectKey = `${this.keyPrefix(stage, key)}/${MANIFEST}`;
    const found = await this.getJson(objectKey);
    if (!found) return undefined;
    const manifest = parseManifest(found.text, this.uri(objectKey));
    if (manifest.stage !== stage || manifest.key !== key) {
      throw new BadInputError(`manifest is for ${manifest.stage}/${manifest.key}`, { file: this.uri(objectKey) });
    }
    return manifest;
  }

  private scratchDir(stage: string, key: string, attempt: string): string {
    return join(this.opts.cacheDir, 'attempts', safeSegment('stage name', stage), safeSegment('artifact key', key), safeSegment('attempt id', attempt));
  }

  private cachedDir(stage: string, key: string, attempt: string): string {
    return join(this.opts.cacheDir, 'artifacts', safeSegment('stage name', stage), safeSegment('artifact key', key), safeSegment('attempt id', attempt));
  }

  async beginAttempt(stage: string, key: string, attempt: string): Promise<Attempt> {
    return { stage, key, attempt, dir: await freshWorkspace(this.scratchDir(stage, key, attempt)) };
  }

  async publish(
    attempt: Attempt,
    meta: { summary: Record<string, unknown>; keyInputs: unknown },
    opts: { replace?: boolean } = {},
  ): Promise<{ manifest: ArtifactManifest; published: boolean }> {
    const prefix = this.attemptPrefix(attempt.stage, attempt.key, attempt.attempt);
    const names = await publishableFiles(attempt.dir);
    await this.call('write', () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.root.bucket,
          Key: `${prefix}/${ATTEMPT_MARKER}`,
          Body: JSON.stringify({ stage: attempt.stage, key: attempt.key, attempt: attempt.attempt, files: names, startedAt: new Date().toISOString() }),
          ContentType: 'application/json',
        }),
      ),
    );
    const files: ArtifactFile[] = [];
    for (const name of names) {
      const path = join(attempt.dir, name);
      const digest = await sha256File(path);
      await this.upload(`${prefix}/${name}`, path);
      files.push({ name, ...digest });
    }
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
    const winner = opts.replace ? await this.putManifest(manifest) : await this.putManifestOnce(manifest);
    const published = winner.attempt === manifest.attempt && winner.createdAt === manifest.createdAt;
    if (published) {
      // The marker only matters while the attempt is unpublished.
      await this.deleteKeys([`${prefix}/${ATTEMPT_MARKER}`]).catch(() => undefined);
      // The workspace holds exactly the published bytes: keep it as this worker's verified copy.
      await this.adoptAsCache(attempt, manifest).catch(() => rm(attempt.dir, { recursive: true, force: true }));
    } else {
      await rm(attempt.dir, { recursive: true, force: true });
      // The loser's objects are orphans; drop them now (a sweep would find them later anyway).
      if (winner.attempt !== attempt.attempt) await this.deletePrefix(`${prefix}/`).catch(() => undefined);
    }
    return { manifest: winner, published };
  }

  /** Streams one file up; multipart above the part size, at most two parts in memory. */
  private async upload(key: string, path: string): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.root.bucket, Key: key, Body: createReadStream(path) },
      partSize: this.partSize,
      queueSize: 2,
      leavePartsOnError: false,
    });
    await this.call('write', () => upload.done());
  }

  /** Writes the manifest over any earlier one (a forced rerun). */
  private async putManifest(manifest: ArtifactManifest): Promise<ArtifactManifest> {
    const key = `${this.keyPrefix(manifest.stage, manifest.key)}/${MANIFEST}`;
    const body = JSON.stringify(manifest, null, 2);
    await this.call('write', () => this.client.send(new PutObjectCommand({ Bucket: this.root.bucket, Key: key, Body: body, ContentType: 'application/json' })));
    return manifest;
  }

  /** Writes the manifest unless one exists; returns the manifest that is published now. */
  private async putManifestOnce(manifest: ArtifactManifest): Promise<ArtifactManifest> {
    const key = `${this.keyPrefix(manifest.stage, manifest.key)}/${MANIFEST}`;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.root.bucket,
            Key: key,
            Body: JSON.stringify(manifest, null, 2),
            ContentType: 'application/json',
            IfNoneMatch: '*',
          }),
        );
        return manifest;
      } catch (err) {
        const { exists, conflict } = isPreconditionFailed(err);
        if (!exists && !conflict) throw this.fail(err, 'write');
        // 412: someone published first. 409: a concurrent conditional write is in flight.
        const winner = exists ? await this.getManifest(manifest.stage, manifest.key) : undefined;
        if (winner) return winner;
        if (attempt >= 8) throw this.fail(err, 'write');
        await sleep(50 * 2 ** attempt);
      }
    }
  }

  private async adoptAsCache(attempt: Attempt, manifest: ArtifactManifest): Promise<void> {
    const target = this.cachedDir(manifest.stage, manifest.key, manifest.attempt);
    await writeFile(join(attempt.dir, VERIFIED), JSON.stringify(manifest.files));
    await mkdir(dirname(target), { recursive: true });
    await publishDir(attempt.dir, target, (d) => isVerifiedCopy(d, manifest));
  }

  async deleteKey(stage: string, key: string): Promise<void> {
    const prefix = this.keyPrefix(stage, key);
    await this.deleteKeys([`${prefix}/${MANIFEST}`]);
    await this.deletePrefix(`${prefix}/`);
  }

  async abandon(attempt: Attempt): Promise<void> {
    await rm(attempt.dir, { recursive: true, force: true });
    // Best effort: whatever reached S3 is unreferenced, and a sweep removes it if this fails.
    const prefix = this.attemptPrefix(attempt.stage, attempt.key, attempt.attempt);
    // Only when the manifest could be read and is not this attempt's: its objects are then unreferenced.
    const published = await this.getManifest(attempt.stage, attempt.key).then((manifest) => ({ manifest }), () => undefined);
    if (published && published.manifest?.attempt !== attempt.attempt) await this.deletePrefix(`${prefix}/`).catch(() => undefined);
  }

  async localDir(manifest: ArtifactManifest): Promise<string> {
    for (const file of manifest.files) safeSegment('file name', file.name);
    const dir = this.cachedDir(manifest.stage, manifest.key, manifest.attempt);
    if (await isVerifiedCopy(dir, manifest)) return dir;
    await mkdir(dirname(dir), { recursive: true });
    const scratch = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await mkdir(scratch);
    try {
      const prefix = this.attemptPrefix(manifest.stage, manifest.key, manifest.attempt);
      for (const file of manifest.files) await this.download(`${prefix}/${file.name}`, join(scratch, file.name), file, manifest);
      await writeFile(join(scratch, VERIFIED), JSON.stringify(manifest.files));
      // Replace a stale copy; if another process just put a verified one in place, use that.
      await publishDir(scratch, dir, (d) => isVerifiedCopy(d, manifest));
      return dir;
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /** Streams one object to `path`, hashing on the way; a size or sha256 mismatch is an error naming the file. */
  private async download(key: string, path: string, expected: ArtifactFile, manifest: ArtifactManifest): Promise<void> {
    const res = await this.call('read', () => this.client.send(new GetObjectCommand({ Bucket: this.root.bucket, Key: key })));
    const hash = createHash('sha256');
    let bytes = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    await this.call('read', () => pipeline(res.Body as Readable, tap, createWriteStream(path)));
    const sha256 = hash.digest('hex');
    if (bytes !== expected.bytes || sha256 !== expected.sha256) {
      throw new Error(
        `artifact ${manifest.stage}/${manifest.key}: file ${expected.name} in ${this.location} is corrupt ` +
          `(${bytes} bytes, sha256 ${sha256.slice(0, 12)}…; manifest says ${expected.bytes} bytes, ${expected.sha256.slice(0, 12)}…)`,
      );
    }
  }

  private runPrefix(workflowId: string): string {
    return this.objectKey('runs', workflowIdSegment(workflowId));
  }

  async putRunManifest(manifest: RunManifest): Promise<void> {
    const key = `${this.runPrefix(manifest.workflowId)}/${safeSegment('run id', manifest.runId)}.json`;
    await this.call('write', () =>
      this.client.send(
        new PutObjectCommand({ Bucket: this.root.bucket, Key: key, Body: JSON.stringify(manifest, null, 2), ContentType: 'application/json' }),
      ),
    );
  }

  async getRunManifest(workflowId: string): Promise<RunManifest | undefined> {
    return (await this.readRuns(`${this.runPrefix(workflowId)}/`)).at(-1);
  }

  async listRunManifests(): Promise<RunManifest[]> {
    const latest: RunManifest[] = [];
    for await (const page of this.list(`${this.objectKey('runs')}/`, '/')) {
      for (const common of page.CommonPrefixes ?? []) {
        const run = (await this.readRuns(common.Prefix ?? '')).at(-1);
        if (run) latest.push(run);
      }
    }
    return latest.sort((a, b) => String(a.startedAt ?? '').localeCompare(String(b.startedAt ?? '')));
  }

  /** Every run manifest under one workflow id's prefix, oldest first. */
  private async readRuns(prefix: string): Promise<RunManifest[]> {
    const runs: RunManifest[] = [];
    for await (const page of this.list(prefix, '/')) {
      for (const object of page.Contents ?? []) {
        if (!object.Key?.endsWith('.json')) continue;
        const found = await this.getJson(object.Key);
        if (found) runs.push(JSON.parse(found.text) as RunManifest);
      }
    }
    return runs.sort((a, b) => String(a.startedAt ?? '').localeCompare(String(b.startedAt ?? '')));
  }

  async sweep({ olderThanMs, dryRun = false }: { olderThanMs: number; dryRun?: boolean }): Promise<SweepReport> {
    const cutoff = Date.now() - olderThanMs;
    const base = this.root.prefix ? `${this.root.prefix}/` : '';
    // One pass over the store: which keys have a manifest, and the objects of every attempt prefix.
    const manifests = new Set<string>();
    const attempts = new Map<string, { stage: string; key: string; attempt: string; keys: string[]; bytes: number; newest: number }>();
    for await (const page of this.list(base)) {
      for (const object of page.Contents ?? []) {
        const parts = (object.Key ?? '').slice(base.length).split('/');
        const [stage, key, third, attempt] = parts;
        if (!isSafeSegment(stage) || stage === 'runs' || !isSafeSegment(key)) continue;
        if (parts.length === 3 && third === MANIFEST) manifests.add(`${stage}/${key}`);
        if (parts.length !== 5 || third !== 'attempts' || !isSafeSegment(attempt)) continue;
        const id = `${stage}/${key}/${attempt}`;
        const entry = attempts.get(id) ?? { stage, key, attempt, keys: [], bytes: 0, newest: 0 };
        entry.keys.push(object.Key!);
        entry.bytes += object.Size ?? 0;
        entry.newest = Math.max(entry.newest, object.LastModified?.getTime() ?? Date.now());
        attempts.set(id, entry);
      }
    }
    const orphans: OrphanAttempt[] = [];
    const doomed: string[] = [];
    const uploads = new Map<string, { Key: string; UploadId: string }>();
    const referenced = new Map<string, string | undefined>();
    for (const entry of attempts.values()) {
      if (entry.newest > cutoff) continue;
      const id = `${entry.stage}/${entry.key}`;
      if (!referenced.has(id)) {
        const manifest = manifests.has(id) ? await this.getManifest(entry.stage, entry.key).catch(() => undefined) : undefined;
        // A key whose manifest exists but cannot be read is left alone: better an orphan than a hole.
        referenced.set(id, manifests.has(id) && !manifest ? '*' : manifest?.attempt);
      }
      const keep = referenced.get(id);
      if (keep === '*' || keep === entry.attempt) continue;
      const prefix = this.attemptPrefix(entry.stage, entry.key, entry.attempt);
      const marker = entry.keys.includes(`${prefix}/${ATTEMPT_MARKER}`) ? await this.getJson(`${prefix}/${ATTEMPT_MARKER}`).catch(() => undefined) : undefined;
      const planned = marker ? ((JSON.parse(marker.text) as { files?: unknown }).files ?? []) : [];
      for (const name of Array.isArray(planned) ? planned.filter(isSafeSegment) : []) {
        for (const u of await this.pendingUploads(`${prefix}/${name}`, cutoff)) uploads.set(u.UploadId, u);
      }
      orphans.push({
        stage: entry.stage,
        key: entry.key,
        attempt: entry.attempt,
        files: entry.keys.filter((k) => !k.endsWith(`/${ATTEMPT_MARKER}`)).length,
        bytes: entry.bytes,
        lastModified: new Date(entry.newest).toISOString(),
      });
      doomed.push(...entry.keys);
    }
    // Unfinished multipart uploads (a crashed worker) hold storage without any visible object.
    // S3 lists them by prefix; MinIO only by exact key, which the attempt markers above provide.
    for (const u of await this.pendingUploads(base, cutoff)) uploads.set(u.UploadId, u);
    if (!dryRun) {
      for (const u of uploads.values()) {
        await this.call('delete', () => this.client.send(new AbortMultipartUploadCommand({ Bucket: this.root.bucket, ...u })));
      }
      await this.deleteKeys(doomed);
    }
    return { orphans, incompleteUploads: uploads.size, removed: !dryRun };
  }

  /** Unfinished multipart uploads under `prefix` started before `cutoff`. */
  private async pendingUploads(prefix: string, cutoff: number): Promise<{ Key: string; UploadId: string }[]> {
    const found: { Key: string; UploadId: string }[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.call('list', () =>
        this.client.send(
          new ListMultipartUploadsCommand({ Bucket: this.root.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
        ),
      );
      for (const u of page.Uploads ?? []) {
        if (u.Key && u.UploadId && (u.Initiated?.getTime() ?? 0) <= cutoff) found.push({ Key: u.Key, UploadId: u.UploadId });
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return found;
  }

  private async *list(prefix: string, delimiter?: string) {
    let token: string | undefined;
    do {
      const page = await this.call('list', () =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.root.bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: token }),
        ),
      );
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  private async deletePrefix(prefix: string): Promise<void> {
    const keys: string[] = [];
    for await (const page of this.list(prefix)) for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    await this.deleteKeys(keys);
  }

  private async deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const res = await this.call('delete', () =>
        this.client.send(
          new DeleteObjectsCommand({ Bucket: this.root.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
        ),
      );
      const failed = res.Errors?.[0];
      if (failed) throw this.fail(Object.assign(new Error('delete failed'), { name: failed.Code ?? 'DeleteFailed' }), 'delete');
    }
  }
}

/** Is `dir` a complete, verified copy of the manifest's files (marker written after checking every sha256)? */
async function isVerifiedCopy(dir: string, manifest: ArtifactManifest): Promise<boolean> {
  const marker = await readFile(join(dir, VERIFIED), 'utf8').catch(() => undefined);
  if (marker !== JSON.stringify(manifest.files)) return false;
  for (const file of manifest.files) {
    const size = await stat(join(dir, file.name)).then((s) => s.size, () => -1);
    if (size !== file.bytes) return false;
  }
  return true;
}

function parseManifest(text: string, file: string): ArtifactManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadInputError('artifact manifest is not valid JSON', { file });
  }
  const m = value as Partial<ArtifactManifest>;
  if (m.schema !== 'lcrec.artifact/1' || !Array.isArray(m.files) || typeof m.key !== 'string' || typeof m.attempt !== 'string') {
    throw new BadInputError('not an lcrec artifact manifest', { file });
  }
  return m as ArtifactManifest;
}
