import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { digestSourceFiles, materializeSource } from '../../activities/sourceFiles.js';
import type { DatasetConfig } from '../../src/config/schema.js';
import { downloadS3Dataset } from '../../src/data/s3Source.js';
import { createS3Client } from '../../src/store/s3Client.js';
import { startS3Server, type S3TestServer } from '../helpers/s3Server.js';

let s3: S3TestServer;
let home: string;
before(async () => {
  s3 = await startS3Server();
  home = await mkdtemp(join(tmpdir(), 'lcrec-s3src-'));
});
after(async () => {
  await s3?.stop();
  await rm(home, { recursive: true, force: true });
});

const put = (key: string, body: string | Buffer) => s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
const reviews = (n: number) =>
  gzipSync(Array.from({ length: n }, (_, i) => JSON.stringify({ reviewerID: `U${i % 3}`, asin: `A${i}`, unixReviewTime: 1000 + i })).join('\n'));
const meta = gzipSync("{'asin': 'A1', 'title': 'x'}\n");

function client() {
  return createS3Client(s3.settings, { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
}

describe('datasets from s3:// sources', () => {
  test('a prefix is downloaded once into the cache, keyed by ETag and size; changed data gives a new copy and new digests', async () => {
    await put('data/beauty/reviews_Beauty_5.json.gz', reviews(10));
    await put('data/beauty/meta_Beauty.json.gz', meta);
    const cache = join(home, 'cache-a');
    const dir = await downloadS3Dataset(`s3://${s3.bucket}/data/beauty`, cache, { settings: s3.settings, client: client() });
    assert.equal(dirname(dir), cache);
    assert.deepEqual((await readdir(dir)).filter((n) => !n.startsWith('.')), ['meta_Beauty.json.gz', 'reviews_Beauty_5.json.gz']);
    assert.deepEqual(await readFile(join(dir, 'meta_Beauty.json.gz')), meta);
    assert.equal(await downloadS3Dataset(`s3://${s3.bucket}/data/beauty/`, cache, { settings: s3.settings, client: client() }), dir, 'reused');

    await put('data/beauty/reviews_Beauty_5.json.gz', reviews(12));
    const again = await downloadS3Dataset(`s3://${s3.bucket}/data/beauty`, cache, { settings: s3.settings, client: client() });
    assert.notEqual(again, dir);
    assert.deepEqual(await readFile(join(again, 'reviews_Beauty_5.json.gz')), reviews(12));
  });

  test('materializeSource resolves an s3:// directory or main file like a local one, with content digests', async () => {
    await put('data/sports/reviews_Sports_5.json.gz', reviews(9));
    await put('data/sports/meta_Sports.json.gz', meta);
    const old = { ...process.env };
    Object.assign(process.env, s3.env);
    try {
      const dataset = { source: `s3://${s3.bucket}/data/sports`, format: 'amazon2014' } as DatasetConfig;
      const files = await materializeSource(dataset, home);
      assert.equal(basename(files.files.reviews!), 'reviews_Sports_5.json.gz');
      assert.ok(files.files.reviews!.startsWith(join(home, 'cache', 'datasets')));
      const byFile = await materializeSource({ ...dataset, source: `s3://${s3.bucket}/data/sports/reviews_Sports_5.json.gz` }, home);
      assert.deepEqual(await digestSourceFiles(byFile), await digestSourceFiles(files));
      const digests = await digestSourceFiles(files);
      assert.match(digests.reviews!, /^sha256:[0-9a-f]{64}$/);
    } finally {
      for (const key of Object.keys(s3.env)) delete process.env[key];
      Object.assign(process.env, old);
    }
  });

  test('object names that are not plain file names are never written; hostile URIs are refused', async () => {
    await put('data/hostile/reviews_H_5.json.gz', reviews(5));
    await put('data/hostile/meta_H.json.gz', meta);
    await put('data/hostile/sub/nested.json', 'nested');
    await put('data/hostile/..%2f..%2fescape', 'x').catch(() => undefined);
    await put('data/hostile/.hidden', 'x');
    // MinIO refuses `..` segments itself; either way nothing may land outside the cache.
    await put('data/hostile/../../escape', 'x').catch(() => undefined);
    const cache = join(home, 'cache-h');
    const dir = await downloadS3Dataset(`s3://${s3.bucket}/data/hostile`, cache, { settings: s3.settings, client: client() });
    assert.deepEqual((await readdir(dir)).filter((n) => n !== '.lcrec-complete'), ['meta_H.json.gz', 'reviews_H_5.json.gz']);
    assert.deepEqual(await readdir(cache), [basename(dir)]);
    assert.ok(!(await readdir(home)).includes('escape'));

    for (const uri of [`s3://${s3.bucket}/data/../hostile`, `s3://${s3.bucket}/%2e%2e/x`, `s3://${s3.bucket}/a\0b`, 's3://k:CANARY@b/x']) {
      await assert.rejects(downloadS3Dataset(uri, cache, { settings: s3.settings, client: client() }), (err: Error) => {
        assert.match(err.message, /dataset source/);
        assert.doesNotMatch(err.message, /CANARY/);
        return true;
      });
    }
    await assert.rejects(downloadS3Dataset(`s3://${s3.bucket}/data/none`, cache, { settings: s3.settings, client: client() }), /no such object or prefix/);
  });
});
