import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { ArtifactStore, RunManifest } from '../../src/store/artifactStore.js';
import { LocalArtifactStore } from '../../src/store/localStore.js';
import { openArtifactStore } from '../../src/store/openStore.js';
import { createS3Client, parseS3Uri, type S3Settings } from '../../src/store/s3Client.js';
import { S3ArtifactStore } from '../../src/store/s3Store.js';
import { startS3Server, type S3TestServer } from '../helpers/s3Server.js';

const CHILD = fileURLToPath(new URL('../helpers/s3PublishChild.ts', import.meta.url));
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

let s3: S3TestServer;
const temps: string[] = [];
let counter = 0;

before(async () => {
  s3 = await startS3Server();
});
after(async () => {
  await s3?.stop();
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lcrec-s3u-'));
  temps.push(dir);
  return dir;
}

/** A store under a fresh prefix of the test bucket; `cacheDir` is this "worker's" own. */
async function freshStore(opts: { prefix?: string; settings?: Partial<S3Settings>; secret?: string; bucket?: string } = {}) {
  const prefix = opts.prefix ?? `t${++counter}/artifacts`;
  const settings = { ...s3.settings, ...opts.settings };
  const client = createS3Client(settings, { accessKeyId: s3.accessKeyId, secretAccessKey: opts.secret ?? s3.secretAccessKey });
  const store = new S3ArtifactStore({ bucket: opts.bucket ?? s3.bucket, prefix }, { settings, cacheDir: await tempDir(), client });
  return { store, prefix };
}

async function objectText(key: string): Promise<string> {
  const res = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return (await res.Body?.transformToString()) ?? '';
}

describe('S3 artifact store on a real S3 server (MinIO): publishing', () => {
  test("files are uploaded under the attempt's prefix and invisible until the manifest is written last", async () => {
    const { store, prefix } = await freshStore();
    const attempt = await store.beginAttempt('ingest', 'ingest-k1', 'run1-a1');
    await writeFile(join(attempt.dir, 'items.parquet'), 'items');
    await writeFile(join(attempt.dir, 'stats.json'), '{"users":3}');
    assert.equal(await store.getManifest('ingest', 'ingest-k1'), undefined);

    const { manifest, published } = await store.publish(attempt, { summary: { users: 3 }, keyInputs: { x: 1 } });
    assert.equal(published, true);
    assert.deepEqual(await store.getManifest('ingest', 'ingest-k1'), manifest);
    assert.deepEqual(await s3.listKeys(`${prefix}/`), [
      `${prefix}/ingest/ingest-k1/attempts/run1-a1/items.parquet`,
      `${prefix}/ingest/ingest-k1/attempts/run1-a1/stats.json`,
      `${prefix}/ingest/ingest-k1/manifest.json`,
    ]);
    assert.deepEqual(JSON.parse(await objectText(`${prefix}/ingest/ingest-k1/manifest.json`)), manifest);
    assert.deepEqual(manifest.summary, { users: 3 });
    assert.equal(store.location, `s3://${s3.bucket}/${prefix}`);
  });

  test('the manifest holds the sha256 and size of every file; another worker downloads and verifies them', async () => {
    const { store, prefix } = await freshStore();
    const contents: Record<string, Buffer> = {
      'stats.json': Buffer.from('{"users":3}\n'),
      'items.parquet': randomBytes(3000),
      'empty.bin': Buffer.alloc(0),
    };
    const attempt = await store.beginAttempt('ingest', 'ingest-k2', 'a1');
    for (const [name, bytes] of Object.entries(contents)) await writeFile(join(attempt.dir, name), bytes);
    const { manifest } = await store.publish(attempt, { summary: {}, keyInputs: {} });
    for (const file of manifest.files) {
      assert.equal(file.bytes, contents[file.name]!.length, file.name);
      assert.equal(file.sha256, sha256(contents[file.name]!), file.name);
    }

    const { store: other } = await freshStore({ prefix });
    const dir = await other.localDir((await other.getManifest('ingest', 'ingest-k2'))!);
    for (const [name, bytes] of Object.entries(contents)) assert.deepEqual(await readFile(join(dir, name)), bytes, name);
    // A verified copy is reused: the second call downloads nothing.
    const before = (await stat(join(dir, 'items.parquet'))).mtimeMs;
    assert.equal(await other.localDir(manifest), dir);
    assert.equal((await stat(join(dir, 'items.parquet'))).mtimeMs, before);
  });

  test('workers sharing one cache directory download a manifest concurrently and all get the same verified copy', async () => {
    const { store, prefix } = await freshStore();
    const attempt = await store.beginAttempt('ingest', 'ingest-conc', 'a1');
    const bytes = randomBytes(200_000);
    await writeFile(join(attempt.dir, 'items.parquet'), bytes);
    const { manifest } = await store.publish(attempt, { summary: {}, keyInputs: {} });
    const cacheDir = await tempDir();
    const readers = Array.from({ length: 4 }, () => {
      const client = createS3Client(s3.settings, { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
      return new S3ArtifactStore({ bucket: s3.bucket, prefix }, { settings: s3.settings, cacheDir, client });
    });
    const dirs = await Promise.all(readers.map((r) => r.localDir(manifest)));
    assert.equal(new Set(dirs).size, 1);
    assert.deepEqual(await readFile(join(dirs[0]!, 'items.parquet')), bytes);
    assert.deepEqual((await readdir(join(dirs[0]!, '..'))).sort(), ['a1'], 'no scratch or stale directory is left behind');
  });

  test('a file larger than the part size goes up in a multipart upload and comes back byte for byte', async () => {
    const prefix = `t${++counter}/big`;
    const client = createS3Client(s3.settings, { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
    const store = new S3ArtifactStore({ bucket: s3.bucket, prefix }, { settings: s3.settings, cacheDir: await tempDir(), client, partSize: 5 * 1024 * 1024 });
    const parts: string[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        parts.push(context.commandName as string);
        return next(args);
      },
      { step: 'initialize' },
    );
    const big = randomBytes(12 * 1024 * 1024 + 17);
    const attempt = await store.beginAttempt('embed', 'embed-big', 'a1');
    await writeFile(join(attempt.dir, 'item_embeddings.safetensors'), big);
    const { manifest } = await store.publish(attempt, { summary: {}, keyInputs: {} });
    assert.equal(parts.filter((c) => c === 'UploadPartCommand').length, 3, parts.join(','));
    assert.equal(manifest.files[0]!.sha256, sha256(big));

    const { store: reader } = await freshStore({ prefix });
    const dir = await reader.localDir(manifest);
    assert.equal(sha256(await readFile(join(dir, 'item_embeddings.safetensors'))), sha256(big));
  });

  test('a corrupted object is refused on read, naming the file; a damaged local copy is downloaded again', async () => {
    const { store, prefix } = await freshStore();
    const attempt = await store.beginAttempt('ingest', 'ingest-bad', 'a1');
    await writeFile(join(attempt.dir, 'items.parquet'), 'x'.repeat(100));
    const { manifest } = await store.publish(attempt, { summary: {}, keyInputs: {} });

    const { store: reader } = await freshStore({ prefix });
    const dir = await reader.localDir(manifest);
    await truncate(join(dir, 'items.parquet'), 10);
    assert.equal(await reader.localDir(manifest), dir);
    assert.equal((await readFile(join(dir, 'items.parquet'))).length, 100, 'the damaged copy was replaced');

    await s3.client.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}/ingest/ingest-bad/attempts/a1/items.parquet`, Body: 'y'.repeat(100) }),
    );
    const { store: fresh } = await freshStore({ prefix });
    await assert.rejects(fresh.localDir(manifest), /items\.parquet.*corrupt/);
  });

  test('of two attempts racing to publish one key exactly one wins, both see its manifest, one manifest object exists', async () => {
    for (let round = 0; round < 5; round++) {
      const { store: a, prefix } = await freshStore();
      const { store: b } = await freshStore({ prefix });
      const key = `ingest-race${round}`;
      const [wa, wb] = [await a.beginAttempt('ingest', key, 'attempt-a'), await b.beginAttempt('ingest', key, 'attempt-b')];
      await writeFile(join(wa.dir, 'out.txt'), 'from a');
      await writeFile(join(wb.dir, 'out.txt'), 'from b, longer');
      const [ra, rb] = await Promise.all([
        a.publish(wa, { summary: { by: 'a' }, keyInputs: {} }),
        b.publish(wb, { summary: { by: 'b' }, keyInputs: {} }),
      ]);
      assert.equal([ra.published, rb.published].filter(Boolean).length, 1, `round ${round}`);
      assert.deepEqual(ra.manifest, rb.manifest);
      const winner = ra.published ? 'attempt-a' : 'attempt-b';
      assert.equal(ra.manifest.attempt, winner);
      const keys = await s3.listKeys(`${prefix}/ingest/${key}/`);
      assert.deepEqual(keys.filter((k) => k.endsWith('manifest.json')), [`${prefix}/ingest/${key}/manifest.json`]);
      assert.deepEqual(JSON.parse(await objectText(`${prefix}/ingest/${key}/manifest.json`)).attempt, winner);
      // The loser's objects are dropped; the winner's stay.
      assert.deepEqual(keys.filter((k) => k.includes('/attempts/')), [`${prefix}/ingest/${key}/attempts/${winner}/out.txt`]);
      const text = await readFile(join(await b.localDir(rb.manifest), 'out.txt'), 'utf8');
      assert.equal(text, winner === 'attempt-a' ? 'from a' : 'from b, longer');

      // A later publish by the loser never replaces the winner.
      const loser = winner === 'attempt-a' ? a : b;
      const again = await loser.beginAttempt('ingest', key, 'attempt-late');
      await writeFile(join(again.dir, 'out.txt'), 'late');
      const late = await loser.publish(again, { summary: {}, keyInputs: {} });
      assert.equal(late.published, false);
      assert.equal(late.manifest.attempt, winner);
    }
  });

  test('abandon drops the local workspace and whatever the attempt uploaded, leaving the published result', async () => {
    const { store, prefix } = await freshStore();
    const good = await store.beginAttempt('ingest', 'ingest-ab', 'good');
    await writeFile(join(good.dir, 'out.txt'), 'ok');
    const { manifest } = await store.publish(good, { summary: {}, keyInputs: {} });
    const failed = await store.beginAttempt('ingest', 'ingest-ab', 'failed');
    await writeFile(join(failed.dir, 'partial.txt'), 'half');
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}/ingest/ingest-ab/attempts/failed/partial.txt`, Body: 'half' }));
    await store.abandon(failed);
    await assert.rejects(stat(failed.dir));
    assert.deepEqual(await s3.listKeys(`${prefix}/ingest/ingest-ab/attempts/`), [`${prefix}/ingest/ingest-ab/attempts/good/out.txt`]);
    assert.equal(await readFile(join(await store.localDir(manifest), 'out.txt'), 'utf8'), 'ok');
  });

  test('an upload interrupted mid-way (the process killed) leaves no visible artifact; the next attempt publishes; sweep clears the rest', async () => {
    const prefix = `t${++counter}/interrupted`;
    const job = {
      settings: s3.settings,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      bucket: s3.bucket,
      prefix,
      cacheDir: await tempDir(),
      stage: 'embed',
      key: 'embed-k1',
      attempt: 'crashed-a1',
      megabytes: 30,
    };
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: { ...process.env, LCREC_TEST_PUBLISH: JSON.stringify(job) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if ((out.match(/^part$/gm) ?? []).length >= 2) resolve();
      });
      void exited.then(() => reject(new Error(`child ended before being interrupted: ${out} ${err}`)));
    });
    child.kill('SIGKILL');
    await exited;
    assert.doesNotMatch(out, /published/);

    const { store } = await freshStore({ prefix });
    assert.equal(await store.getManifest('embed', 'embed-k1'), undefined, 'no manifest: the key does not exist');
    const keys = await s3.listKeys(`${prefix}/`);
    assert.ok(!keys.some((k) => k.endsWith('manifest.json')), keys.join(', '));
    assert.ok(!keys.includes(`${prefix}/embed/embed-k1/attempts/crashed-a1/b-large.bin`), 'the large file never became an object');
    // (MinIO lists multipart uploads by exact key only.)
    const largeKey = `${prefix}/embed/embed-k1/attempts/crashed-a1/b-large.bin`;
    const pending = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: largeKey }));
    assert.equal(pending.Uploads?.length, 1, 'the half-done multipart upload is pending');

    const retry = await store.beginAttempt('embed', 'embed-k1', 'retry-a2');
    await writeFile(join(retry.dir, 'b-large.bin'), 'now complete');
    const { published } = await store.publish(retry, { summary: {}, keyInputs: {} });
    assert.equal(published, true);

    const dry = await store.sweep({ olderThanMs: 0, dryRun: true });
    assert.deepEqual(dry.orphans.map((o) => `${o.stage}/${o.key}/${o.attempt}`), ['embed/embed-k1/crashed-a1']);
    assert.equal(dry.incompleteUploads, 1);
    assert.equal(dry.removed, false);
    assert.ok(keys.includes(`${prefix}/embed/embed-k1/attempts/crashed-a1/a-small.json`));

    const swept = await store.sweep({ olderThanMs: 0 });
    assert.equal(swept.orphans.length, 1);
    assert.deepEqual(await s3.listKeys(`${prefix}/`), [
      `${prefix}/embed/embed-k1/attempts/retry-a2/b-large.bin`,
      `${prefix}/embed/embed-k1/manifest.json`,
    ]);
    const after = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: largeKey }));
    assert.equal(after.Uploads?.length ?? 0, 0);
  });
});

describe('S3 artifact store: sweep and run manifests', () => {
  test('sweep keeps published and recent attempts, lists old orphans on a dry run, and removes them otherwise', async () => {
    const { store, prefix } = await freshStore();
    const published = await store.beginAttempt('ingest', 'ingest-s', 'winner');
    await writeFile(join(published.dir, 'out.txt'), 'ok');
    await store.publish(published, { summary: {}, keyInputs: {} });
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}/ingest/ingest-s/attempts/crashed/out.txt`, Body: 'half' }));
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}/ingest/ingest-none/attempts/lost/a.txt`, Body: 'a' }));

    assert.deepEqual((await store.sweep({ olderThanMs: 3_600_000 })).orphans, [], 'nothing is an hour old yet');
    const dry = await store.sweep({ olderThanMs: 0, dryRun: true });
    assert.deepEqual(dry.orphans.map((o) => o.attempt).sort(), ['crashed', 'lost']);
    assert.equal((await s3.listKeys(`${prefix}/`)).length, 4);
    await store.sweep({ olderThanMs: 0 });
    assert.deepEqual(await s3.listKeys(`${prefix}/`), [
      `${prefix}/ingest/ingest-s/attempts/winner/out.txt`,
      `${prefix}/ingest/ingest-s/manifest.json`,
    ]);
  });

  test('run manifests: get returns the latest run of a workflow id, list the latest of each, put again replaces', async () => {
    const { store, prefix } = await freshStore();
    const run = (workflowId: string, runId: string, startedAt: string, extra: object = {}): RunManifest => ({
      schema: 'lcrec.run/1',
      workflowId,
      runId,
      startedAt,
      ...extra,
    });
    assert.equal(await store.getRunManifest('lcrec-beauty'), undefined);
    assert.deepEqual(await store.listRunManifests(), []);
    await store.putRunManifest(run('lcrec-beauty', 'z-first', '2024-01-01T00:00:00.000Z'));
    await store.putRunManifest(run('lcrec-beauty', 'a-second', '2024-01-02T00:00:00.000Z', { status: 'running' }));
    await store.putRunManifest(run('lcrec-beauty', 'a-second', '2024-01-02T00:00:00.000Z', { status: 'done' }));
    await store.putRunManifest(run('lcrec-sports', 'r1', '2024-01-01T12:00:00.000Z'));
    assert.equal((await store.getRunManifest('lcrec-beauty'))?.status, 'done');
    assert.deepEqual(
      (await store.listRunManifests()).map((r) => [r.workflowId, r.runId]),
      [
        ['lcrec-sports', 'r1'],
        ['lcrec-beauty', 'a-second'],
      ],
    );
    assert.ok((await s3.listKeys(`${prefix}/runs/`)).includes(`${prefix}/runs/lcrec-beauty/a-second.json`));
  });
});

describe('S3 artifact store: failures give one clear error naming endpoint and bucket, never the secret', () => {
  test('wrong credentials', async () => {
    const canary = `CANARY-${randomBytes(12).toString('hex')}`;
    const { store } = await freshStore({ secret: canary });
    await assert.rejects(store.check(), (err: Error) => {
      assert.match(err.message, new RegExp(`S3 endpoint ${s3.endpoint}, bucket ${s3.bucket}: the credentials were refused`));
      assert.doesNotMatch(`${err.message}\n${err.stack}\n${JSON.stringify(err)}`, new RegExp(canary));
      assert.equal(err.message.split('\n').length, 1);
      return true;
    });
    await assert.rejects(store.getManifest('ingest', 'ingest-x'), /credentials were refused/);
  });

  test('a missing bucket', async () => {
    const { store } = await freshStore({ bucket: 'no-such-bucket' });
    await assert.rejects(store.check(), new RegExp(`S3 endpoint ${s3.endpoint}, bucket no-such-bucket: the bucket does not exist$`));
    await assert.rejects(store.listRunManifests(), /bucket no-such-bucket: the bucket does not exist/);
  });

  test('an unreachable endpoint', async () => {
    const { store } = await freshStore({ settings: { endpoint: 'http://127.0.0.1:9', maxAttempts: 2 } });
    await assert.rejects(store.check(), /^S3AccessError: S3 endpoint http:\/\/127\.0\.0\.1:9, bucket lcrec-test: cannot reach the endpoint \(ECONNREFUSED\)/);
  });
});

describe('user strings cannot escape the artifact root (local and S3 stores)', () => {
  const hostile = ['..', '../x', '../../etc', '/etc/passwd', 'a/b', 'a\0b', '%2e%2e', '..%2f..%2fx', '.hidden', '', 'x\\..\\y', '-rf'];

  async function stores(): Promise<{ name: string; store: ArtifactStore; outside: () => Promise<string[]> }[]> {
    const parent = await tempDir();
    const local = new LocalArtifactStore(join(parent, 'root'));
    const { store: remote, prefix } = await freshStore({ prefix: `t${++counter}/root` });
    const base = prefix.split('/')[0]!;
    return [
      { name: 'local', store: local, outside: async () => (await readdir(parent)).filter((n) => n !== 'root') },
      { name: 's3', store: remote, outside: async () => (await s3.listKeys(`${base}/`)).filter((k) => !k.startsWith(`${prefix}/`)) },
    ];
  }

  test('stage names, keys, attempt ids, workflow and run ids and manifest file names are refused', async () => {
    for (const { name, store, outside } of await stores()) {
      for (const bad of hostile) {
        const label = `${name}: ${JSON.stringify(bad)}`;
        await assert.rejects(store.getManifest(bad, 'k'), /invalid stage name/, label);
        await assert.rejects(store.getManifest('ingest', bad), /invalid artifact key/, label);
        await assert.rejects(store.beginAttempt('ingest', bad, 'a1'), /invalid artifact key/, label);
        await assert.rejects(store.beginAttempt('ingest', 'k', bad), /invalid attempt id/, label);
        await assert.rejects(store.getRunManifest(bad), /invalid workflow id/, label);
        await assert.rejects(store.putRunManifest({ schema: 'lcrec.run/1', workflowId: bad, runId: 'r' }), /invalid workflow id/, label);
        await assert.rejects(store.putRunManifest({ schema: 'lcrec.run/1', workflowId: 'wf', runId: bad }), /invalid run id/, label);
        const manifest = {
          schema: 'lcrec.artifact/1' as const,
          stage: 'ingest',
          key: 'k',
          attempt: 'a1',
          createdAt: '',
          files: [{ name: bad, sha256: sha256(''), bytes: 0 }],
          summary: {},
          keyInputs: {},
        };
        await assert.rejects(store.localDir(manifest), /invalid file name/, label);
        await assert.rejects(store.localDir({ ...manifest, files: [], attempt: bad }), /invalid attempt id/, label);
      }
      assert.deepEqual(await outside(), [], `${name}: nothing was written outside the root`);
    }
  });

  test('an s3:// root refuses traversal, credentials and bad bucket names; unknown schemes are refused', async () => {
    for (const bad of ['s3://b/../x', 's3://bucket/a/../../b', 's3://bucket/a//b', 's3://bucket/%2e%2e/x', 's3://bucket/a\0b', 's3://bucket/.x']) {
      assert.throws(() => parseS3Uri(bad), /invalid prefix|invalid bucket/, bad);
    }
    assert.throws(() => parseS3Uri('s3://AKIA:CANARYSECRET@bucket/x'), (err: Error) => !err.message.includes('CANARYSECRET') && /credentials/.test(err.message));
    assert.throws(() => parseS3Uri('s3://Bad_Bucket/x'), /invalid bucket/);
    assert.deepEqual(parseS3Uri('s3://bucket/a/b/'), { bucket: 'bucket', prefix: 'a/b' });
    assert.deepEqual(parseS3Uri('s3://bucket'), { bucket: 'bucket', prefix: '' });
    assert.throws(() => openArtifactStore('gs://bucket/x', { cacheDir: '/tmp' }), /unsupported artifact root scheme/);
    assert.ok(openArtifactStore('s3://bucket/x', { cacheDir: '/tmp', env: s3.env }) instanceof S3ArtifactStore);
    assert.ok(openArtifactStore('relative/dir', { cacheDir: '/tmp' }) instanceof LocalArtifactStore);
  });
});
