import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fetchDatasetSource } from '../../datasets/fetchSource.js';
import { isDatasetName, listDatasets, resolveDatasetName, type RegistryEntry } from '../../datasets/registry.js';
import { DownloadInterruptedError, downloadFile } from '../../src/data/download.js';
import { ingest } from '../../src/data/ingest.js';
import { BadInputError } from '../../src/errors.js';

/** What the test server holds at a path, and how it misbehaves. */
interface Resource {
  body: Buffer;
  etag?: string;
  /** Destroy the socket after this many body bytes, for the next `dropTimes` requests. */
  dropAfter?: number;
  dropTimes?: number;
}

const resources = new Map<string, Resource>();
const requests: { path: string; range?: string; ifRange?: string }[] = [];
let server: Server;
let base: string;
let root: string;
let counter = 0;

function serve(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  requests.push({ path: url, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined });
  const r = resources.get(url);
  if (!r) {
    res.writeHead(404, 'Not Found').end('no such file');
    return;
  }
  let start = 0;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'];
  if (range && r.etag !== undefined && (ifRange === undefined || ifRange === r.etag)) start = Number(range[1]);
  if (start > r.body.length) {
    res.writeHead(416, { 'content-range': `bytes */${r.body.length}` }).end();
    return;
  }
  const headers: Record<string, string> = { 'content-length': String(r.body.length - start), 'content-type': 'application/octet-stream' };
  if (r.etag !== undefined) headers.etag = r.etag;
  if (start > 0) headers['content-range'] = `bytes ${start}-${r.body.length - 1}/${r.body.length}`;
  res.writeHead(start > 0 ? 206 : 200, headers);
  const rest = r.body.subarray(start);
  if (r.dropAfter !== undefined && (r.dropTimes ?? 0) > 0) {
    r.dropTimes!--;
    res.write(rest.subarray(0, r.dropAfter), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  res.end(rest);
}

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'lcrec-download-'));
  server = createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** Incompressible bytes, so a cut is really in the middle of the body. */
const payload = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729 + ((i * i) >> 3)) & 0xff));
const fresh = async (label: string) => path.join(root, `${label}-${counter++}`);

describe('downloadFile', () => {
  test('streams the body to the destination and checks the sha256', async () => {
    const body = payload(300_000, 1);
    resources.set('/a.bin', { body, etag: '"a1"' });
    const dir = await fresh('ok');
    const seen: number[] = [];
    const result = await downloadFile(`${base}/a.bin`, path.join(dir, 'a.bin'), { sha256: sha(body), onProgress: (done) => seen.push(done) });
    assert.ok((await readFile(result.path)).equals(body));
    assert.equal(result.sha256, sha(body));
    assert.equal(result.resumedFrom, 0);
    assert.equal(seen.at(-1), body.length);
    assert.deepEqual(await readdir(dir), ['a.bin'], 'no .part left behind');
  });

  test('a body whose checksum differs is refused and nothing is kept', async () => {
    const body = payload(50_000, 2);
    resources.set('/b.bin', { body, etag: '"b1"' });
    const dir = await fresh('badsum');
    const wrong = sha(Buffer.from('something else'));
    await assert.rejects(
      downloadFile(`${base}/b.bin`, path.join(dir, 'b.bin'), { sha256: wrong }),
      (err: unknown) => err instanceof BadInputError && err.message.includes(`${base}/b.bin`) && err.message.includes('checksum mismatch') && err.message.includes(wrong),
    );
    assert.deepEqual(await readdir(dir), []);
  });

  test('a URL that answers 404 names the URL and leaves nothing', async () => {
    const dir = await fresh('404');
    await assert.rejects(
      downloadFile(`${base}/missing.json.gz`, path.join(dir, 'missing.json.gz')),
      (err: unknown) => err instanceof BadInputError && err.message.startsWith(`${base}/missing.json.gz: HTTP 404`),
    );
    assert.deepEqual(existsSync(dir) ? await readdir(dir) : [], []);
  });

  test('a dropped connection keeps the proven part and the next call resumes it with Range + If-Range', async () => {
    const body = payload(400_000, 3);
    resources.set('/c.bin', { body, etag: '"c1"', dropAfter: 150_000, dropTimes: 1 });
    const dir = await fresh('resume');
    const dest = path.join(dir, 'c.bin');
    await assert.rejects(downloadFile(`${base}/c.bin`, dest, { sha256: sha(body) }), (err: unknown) => err instanceof DownloadInterruptedError && /dropped after \d+ bytes of 400000/.test(err.message));
    const part = await readFile(`${dest}.part`);
    assert.ok(part.length > 0 && part.length < body.length, `part holds ${part.length} bytes`);
    assert.ok(part.equals(body.subarray(0, part.length)), 'the part is a prefix of the body');
    assert.ok(!existsSync(dest));

    requests.length = 0;
    const result = await downloadFile(`${base}/c.bin`, dest, { sha256: sha(body) });
    assert.deepEqual(requests, [{ path: '/c.bin', range: `bytes=${part.length}-`, ifRange: '"c1"' }]);
    assert.equal(result.resumedFrom, part.length);
    assert.ok((await readFile(dest)).equals(body));
    assert.deepEqual(await readdir(dir), ['c.bin']);
  });

  test('a resource that changed since the part was written is downloaded whole again', async () => {
    const old = payload(200_000, 4);
    resources.set('/d.bin', { body: old, etag: '"v1"', dropAfter: 80_000, dropTimes: 1 });
    const dir = await fresh('changed');
    const dest = path.join(dir, 'd.bin');
    await assert.rejects(downloadFile(`${base}/d.bin`, dest), DownloadInterruptedError);
    assert.ok(existsSync(`${dest}.part`));
    const updated = payload(210_000, 5);
    resources.set('/d.bin', { body: updated, etag: '"v2"' });
    const result = await downloadFile(`${base}/d.bin`, dest, { sha256: sha(updated) });
    assert.equal(result.resumedFrom, 0, 'If-Range did not match: a whole new body, not a splice');
    assert.ok((await readFile(dest)).equals(updated));
  });

  test('without a validator to resume against, a dropped part is discarded', async () => {
    const body = payload(200_000, 6);
    resources.set('/e.bin', { body, dropAfter: 70_000, dropTimes: 1 });
    const dir = await fresh('novalidator');
    await assert.rejects(downloadFile(`${base}/e.bin`, path.join(dir, 'e.bin')), (err: unknown) => err instanceof DownloadInterruptedError && err.message.includes('discarded'));
    assert.deepEqual(await readdir(dir), []);
  });
});

describe('dataset registry', () => {
  test('names resolve to a release, category, format and files; the URLs are marked unverified', () => {
    const gift = resolveDatasetName('amazon2018:gift_cards');
    assert.equal(gift.id, 'amazon2018:gift_cards:5core');
    assert.equal(gift.format, 'amazon2018');
    assert.deepEqual(gift.files.map((f) => f.name), ['Gift_Cards_5.json.gz', 'meta_Gift_Cards.json.gz']);
    assert.equal(resolveDatasetName('amazon2018:Gift_Cards:ratings').files[0]!.name, 'Gift_Cards.csv');
    assert.equal(resolveDatasetName('amazon2014:beauty').files[0]!.name, 'reviews_Beauty_5.json.gz');
    assert.equal(resolveDatasetName('amazon2023:all_beauty').format, 'amazon2023');
    const all = listDatasets();
    assert.ok(all.every((e) => !e.verified && e.files.every((f) => f.sha256 === null && /^https?:\/\//.test(f.url))));
    assert.equal(new Set(all.map((e) => e.id)).size, all.length);
    assert.ok(isDatasetName('amazon2018:gift_cards') && !isDatasetName('/data/amazon2018'));
  });

  test('unknown names list the choices', () => {
    assert.throws(() => resolveDatasetName('amazon2018:giftcards'), (err: unknown) => err instanceof BadInputError && err.message.includes('gift_cards'));
    assert.throws(() => resolveDatasetName('amazon2018:gift_cards:full'), (err: unknown) => err instanceof BadInputError && err.message.includes('5core, ratings'));
  });

  test('a registry name is downloaded into the data directory and ingested with its format', async () => {
    const review = (u: string, i: string, t: number) => JSON.stringify({ reviewerID: u, asin: i, overall: 5.0, unixReviewTime: t });
    const reviews = Array.from({ length: 40 }, (_, n) => review(`U${n % 5}`, `I${(n * 3) % 8}`, 1000 + n)).join('\n') + '\n';
    const meta = Array.from({ length: 8 }, (_, i) => JSON.stringify({ asin: `I${i}`, title: `Item ${i}`, description: [], brand: 'B', category: ['C'] })).join('\n') + '\n';
    const files = { reviews: gzipSync(reviews), meta: gzipSync(meta) };
    resources.set('/v2/Tiny_5.json.gz', { body: files.reviews, etag: '"r"', dropAfter: 100, dropTimes: 1 });
    resources.set('/v2/meta_Tiny.json.gz', { body: files.meta, etag: '"m"' });
    const entry: RegistryEntry = {
      ...resolveDatasetName('amazon2018:gift_cards'),
      id: 'amazon2018:tiny:5core',
      files: [
        { name: 'Tiny_5.json.gz', url: `${base}/v2/Tiny_5.json.gz`, sha256: sha(files.reviews) },
        { name: 'meta_Tiny.json.gz', url: `${base}/v2/meta_Tiny.json.gz`, sha256: sha(files.meta) },
      ],
    };
    const dataDir = await fresh('home');
    const opts = { dataDir, lookup: () => entry };
    await assert.rejects(fetchDatasetSource('amazon2018:tiny', opts), DownloadInterruptedError);
    const local = await fetchDatasetSource('amazon2018:tiny', opts);
    assert.equal(local.format, 'amazon2018');
    assert.equal(local.path, path.join(dataDir, 'datasets', 'amazon2018-tiny-5core'));
    const stats = await ingest(local.path, local.format, { kCore: 0, dedupe: true, requireMetadata: true, minSequenceLength: 3 }, path.join(dataDir, 'out'));
    assert.equal(stats.source.records, 40);
    assert.equal(stats.users, 5);
  });

  test('files already placed in the data directory are used without a request; a known digest is still checked', async () => {
    const dataDir = await fresh('placed');
    const entry: RegistryEntry = {
      ...resolveDatasetName('amazon2018:gift_cards'),
      files: [{ name: 'Gift_Cards_5.json.gz', url: `${base}/never/asked`, sha256: sha(Buffer.from('x')) }],
    };
    const dir = path.join(dataDir, 'datasets', 'amazon2018-gift_cards-5core');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Gift_Cards_5.json.gz'), 'x');
    requests.length = 0;
    const local = await fetchDatasetSource('amazon2018:gift_cards', { dataDir, lookup: () => entry });
    assert.equal(local.path, dir);
    assert.deepEqual(requests, []);
    await writeFile(path.join(dir, 'Gift_Cards_5.json.gz'), 'y');
    await assert.rejects(fetchDatasetSource('amazon2018:gift_cards', { dataDir, lookup: () => entry }), (err: unknown) => err instanceof BadInputError && err.message.includes('delete it to download again'));
  });

  test('comma-separated URLs are downloaded side by side; the format is detected', async () => {
    const csv = 'user_id,parent_asin,rating,timestamp\n' + Array.from({ length: 12 }, (_, n) => `U${n % 3},P${n % 4},5.0,${1_600_000_000_000 + n * 1000}`).join('\n') + '\n';
    const meta = Array.from({ length: 4 }, (_, i) => JSON.stringify({ parent_asin: `P${i}`, title: `T${i}`, store: 'S', categories: [] })).join('\n') + '\n';
    resources.set('/23/Tiny.csv', { body: Buffer.from(csv), etag: '"x"' });
    resources.set('/23/meta_Tiny.jsonl', { body: Buffer.from(meta), etag: '"y"' });
    const dataDir = await fresh('urls');
    const local = await fetchDatasetSource(`${base}/23/Tiny.csv,${base}/23/meta_Tiny.jsonl`, { dataDir });
    assert.equal(local.format, undefined);
    const stats = await ingest(local.path, undefined, { kCore: 0, dedupe: true, requireMetadata: true, minSequenceLength: 3 }, path.join(dataDir, 'out'));
    assert.equal(stats.format, 'amazon2023');
    assert.equal(stats.interactions, 12);
  });
});
