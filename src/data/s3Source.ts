import { createWriteStream } from 'node:fs';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { BadInputError } from '../errors.js';
import { isSafeSegment } from '../store/names.js';
import { createS3Client, describeS3Error, parseS3Uri, s3SettingsFromEnv, type S3Settings } from '../store/s3Client.js';
import { publishDir } from '../util/atomicDir.js';
import { canonicalJson, sha256Hex } from '../util/canonical.js';

interface SourceObject {
  name: string;
  key: string;
  etag: string;
  size: number;
}

const COMPLETE = '.lcrec-complete';

/**
 * Brings a dataset stored under `s3://bucket/prefix` (a "directory": the prefix's direct children)
 * or `s3://bucket/prefix/file` (that object and its siblings) to this machine. The objects are
 * streamed into a directory under `cacheRoot` named after the listing's ETags and sizes, built
 * beside its final name and renamed into place, so an unchanged dataset is downloaded once and a
 * half-downloaded one is never used. Returns the local directory, or the local path of the named
 * file. Object names that are not plain file names (`..`, nested keys) are never written.
 */
export async function downloadS3Dataset(
  uri: string,
  cacheRoot: string,
  opts: { settings?: S3Settings; client?: S3Client } = {},
): Promise<string> {
  const { bucket, prefix } = parseS3Uri(uri, 'dataset source');
  const settings = opts.settings ?? s3SettingsFromEnv();
  const client = opts.client ?? createS3Client(settings);
  const fail = (err: unknown) => describeS3Error(err, { settings, bucket, action: 'read' });
  try {
    let dirPrefix = prefix ? `${prefix}/` : '';
    let main: string | undefined;
    let objects = await listChildren(client, bucket, dirPrefix).catch((err) => Promise.reject(fail(err)));
    if (objects.length === 0 && prefix) {
      // Not a "directory": maybe the name of one object, read with its siblings.
      const slash = prefix.lastIndexOf('/');
      dirPrefix = slash < 0 ? '' : `${prefix.slice(0, slash)}/`;
      main = prefix.slice(slash + 1);
      objects = await listChildren(client, bucket, dirPrefix).catch((err) => Promise.reject(fail(err)));
      if (!objects.some((o) => o.name === main)) throw new BadInputError('no such object or prefix in S3', { file: uri });
    }
    if (objects.length === 0) throw new BadInputError('no such object or prefix in S3', { file: uri });

    const id = sha256Hex(canonicalJson({ bucket, prefix: dirPrefix, objects: objects.map(({ name, etag, size }) => ({ name, etag, size })) }));
    const dir = join(cacheRoot, `s3-${id.slice(0, 24)}`);
    const done = await access(join(dir, COMPLETE)).then(() => true, () => false);
    if (!done) {
      await mkdir(cacheRoot, { recursive: true });
      const scratch = await mkdtemp(`${dir}.tmp-`);
      try {
        for (const object of objects) await downloadObject(client, bucket, object, join(scratch, object.name), uri).catch((err) => Promise.reject(err instanceof BadInputError ? err : fail(err)));
        await writeFile(join(scratch, COMPLETE), `${uri}\n`);
        // Another worker may have finished the same download first: then its copy is used.
        await publishDir(scratch, dir, (d) => access(join(d, COMPLETE)).then(() => true, () => false));
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    }
    return main ? join(dir, main) : dir;
  } finally {
    if (!opts.client) client.destroy();
  }
}

/** The objects directly under `dirPrefix` whose names are plain file names. */
async function listChildren(client: S3Client, bucket: string, dirPrefix: string): Promise<SourceObject[]> {
  const objects: SourceObject[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: dirPrefix, Delimiter: '/', ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const name = (o.Key ?? '').slice(dirPrefix.length);
      if (isSafeSegment(name) && o.Key && o.ETag !== undefined) objects.push({ name, key: o.Key, etag: o.ETag, size: o.Size ?? 0 });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Streams one object to `path`; it must still be the listed version (If-Match) and size. */
async function downloadObject(client: S3Client, bucket: string, object: SourceObject, path: string, uri: string): Promise<void> {
  let res;
  try {
    res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: object.key, IfMatch: object.etag }));
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412) {
      throw new BadInputError(`${object.name} changed while it was being downloaded; start the run again`, { file: uri });
    }
    throw err;
  }
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  await pipeline(res.Body as Readable, count, createWriteStream(path));
  if (bytes !== object.size) throw new BadInputError(`${object.name}: downloaded ${bytes} bytes, listed ${object.size}`, { file: uri });
}
