import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RunManifest } from '../../src/store/artifactStore.js';
import { stageKey, type KeyInputs } from '../../src/store/keys.js';
import { LocalArtifactStore } from '../../src/store/localStore.js';

const roots: string[] = [];
after(async () => {
  for (const dir of roots) await rm(dir, { recursive: true, force: true });
});

async function freshStore(): Promise<LocalArtifactStore> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'lcrec-'));
  roots.push(root);
  return new LocalArtifactStore(root);
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const exists = (p: string) => stat(p).then(() => true, () => false);

describe('publishing stage outputs', () => {
  test("a stage's files are invisible until the manifest is written", async () => {
    const store = await freshStore();
    const attempt = await store.beginAttempt('ingest', 'ingest-k1', 'a1');
    await writeFile(path.join(attempt.dir, 'items.parquet'), 'items');
    assert.equal(await store.getManifest('ingest', 'ingest-k1'), undefined);

    const { manifest, published } = await store.publish(attempt, { summary: { users: 3 }, keyInputs: { x: 1 } });
    assert.equal(published, true);
    assert.deepEqual(await store.getManifest('ingest', 'ingest-k1'), manifest);
    assert.equal(manifest.stage, 'ingest');
    assert.equal(manifest.key, 'ingest-k1');
    assert.equal(manifest.attempt, 'a1');
    assert.deepEqual(manifest.summary, { users: 3 });
    assert.deepEqual(manifest.keyInputs, { x: 1 });
  });

  test('the manifest lists every file with the sha256 and size of its bytes', async () => {
    const store = await freshStore();
    const attempt = await store.beginAttempt('ingest', 'ingest-k2', 'a1');
    const contents: Record<string, Buffer> = {
      'stats.json': Buffer.from('{"users":3}\n'),
      'items.parquet': Buffer.from([0, 1, 2, 255, 254]),
      'empty.bin': Buffer.alloc(0),
    };
    for (const [name, bytes] of Object.entries(contents)) await writeFile(path.join(attempt.dir, name), bytes);
    const { manifest } = await store.publish(attempt, { summary: {}, keyInputs: {} });

    assert.deepEqual(
      manifest.files.map((f) => f.name).sort(),
      Object.keys(contents).sort(),
    );
    for (const file of manifest.files) {
      const bytes = contents[file.name]!;
      assert.equal(file.bytes, bytes.length, file.name);
      assert.equal(file.sha256, sha256(bytes), file.name);
    }
    const dir = await store.localDir(manifest);
    assert.deepEqual((await readdir(dir)).sort(), Object.keys(contents).sort());
  });

  test('of two attempts racing to publish one key exactly one wins and both see its manifest', async () => {
    const store = await freshStore();
    const a = await store.beginAttempt('ingest', 'ingest-race', 'attempt-a');
    const b = await store.beginAttempt('ingest', 'ingest-race', 'attempt-b');
    await writeFile(path.join(a.dir, 'out.txt'), 'from a');
    await writeFile(path.join(b.dir, 'out.txt'), 'from b, longer');

    const [ra, rb] = await Promise.all([
      store.publish(a, { summary: { by: 'a' }, keyInputs: {} }),
      store.publish(b, { summary: { by: 'b' }, keyInputs: {} }),
    ]);
    assert.equal([ra.published, rb.published].filter(Boolean).length, 1);
    assert.deepEqual(ra.manifest, rb.manifest);
    const winner = ra.published ? 'attempt-a' : 'attempt-b';
    assert.equal(ra.manifest.attempt, winner);
    assert.deepEqual(ra.manifest.summary, { by: winner === 'attempt-a' ? 'a' : 'b' });
    assert.deepEqual(await store.getManifest('ingest', 'ingest-race'), ra.manifest);

    // A later publish of the loser never replaces the winner.
    const loser = winner === 'attempt-a' ? b : a;
    const again = await store.publish(loser, { summary: {}, keyInputs: {} });
    assert.equal(again.published, false);
    assert.equal(again.manifest.attempt, winner);
  });

  test('abandon removes the attempt and its files, leaving the published result usable', async () => {
    const store = await freshStore();
    const good = await store.beginAttempt('ingest', 'ingest-ab', 'good');
    await writeFile(path.join(good.dir, 'out.txt'), 'ok');
    const { manifest } = await store.publish(good, { summary: {}, keyInputs: {} });

    const failed = await store.beginAttempt('ingest', 'ingest-ab', 'failed');
    await writeFile(path.join(failed.dir, 'partial.txt'), 'half');
    await store.abandon(failed);
    assert.equal(await exists(failed.dir), false);
    assert.equal(await store.localDir(manifest), good.dir);
  });

  test('a retried attempt with the same id starts from an empty workspace', async () => {
    const store = await freshStore();
    const first = await store.beginAttempt('ingest', 'ingest-retry', 'a1');
    await writeFile(path.join(first.dir, 'stale.txt'), 'from a crash');
    const retry = await store.beginAttempt('ingest', 'ingest-retry', 'a1');
    assert.deepEqual(await readdir(retry.dir), []);
  });

  test('localDir refuses a manifest whose file was truncated or deleted, naming the file', async () => {
    const store = await freshStore();
    const attempt = await store.beginAttempt('ingest', 'ingest-bad', 'a1');
    await writeFile(path.join(attempt.dir, 'items.parquet'), 'x'.repeat(100));
    await writeFile(path.join(attempt.dir, 'stats.json'), '{}');
    const { manifest } = await store.publish(attempt, { summary: {}, keyInputs: {} });
    assert.equal(await store.localDir(manifest), attempt.dir);

    await truncate(path.join(attempt.dir, 'items.parquet'), 40);
    await assert.rejects(store.localDir(manifest), (err: Error) => {
      assert.match(err.message, /items\.parquet/);
      assert.match(err.message, /40 bytes/);
      return true;
    });

    await rm(path.join(attempt.dir, 'stats.json'));
    await writeFile(path.join(attempt.dir, 'items.parquet'), 'x'.repeat(100));
    await assert.rejects(store.localDir(manifest), (err: Error) => {
      assert.match(err.message, /stats\.json/);
      assert.match(err.message, /missing/);
      return true;
    });
  });
});

describe('run manifests', () => {
  const run = (workflowId: string, runId: string, startedAt: string, extra: object = {}): RunManifest => ({
    schema: 'lcrec.run/1',
    workflowId,
    runId,
    startedAt,
    ...extra,
  });

  test('get returns the latest run of a workflow id; list returns the latest of each id', async () => {
    const store = await freshStore();
    assert.equal(await store.getRunManifest('lcrec-beauty'), undefined);
    assert.deepEqual(await store.listRunManifests(), []);

    // Run ids sort the other way round from their start times on purpose.
    await store.putRunManifest(run('lcrec-beauty', 'z-first', '2024-01-01T00:00:00.000Z'));
    await store.putRunManifest(run('lcrec-beauty', 'a-second', '2024-01-02T00:00:00.000Z', { status: 'done' }));
    await store.putRunManifest(run('lcrec-sports', 'r1', '2024-01-01T12:00:00.000Z'));

    const latest = await store.getRunManifest('lcrec-beauty');
    assert.equal(latest?.runId, 'a-second');
    assert.equal(latest?.status, 'done');

    const listed = await store.listRunManifests();
    assert.deepEqual(
      listed.map((r) => [r.workflowId, r.runId]),
      [
        ['lcrec-sports', 'r1'],
        ['lcrec-beauty', 'a-second'],
      ],
    );
  });

  test('putting a run manifest again replaces it', async () => {
    const store = await freshStore();
    await store.putRunManifest(run('wf', 'r1', '2024-01-01T00:00:00.000Z', { status: 'running' }));
    await store.putRunManifest(run('wf', 'r1', '2024-01-01T00:00:00.000Z', { status: 'done' }));
    assert.equal((await store.getRunManifest('wf'))?.status, 'done');
    assert.equal((await store.listRunManifests()).length, 1);
  });
});

describe('stageKey', () => {
  const base: KeyInputs = {
    stage: 'ingest',
    codeVersion: 'ingest/1',
    config: { kCore: 5, dedupe: true, nested: { a: 1, b: 2 } },
    inputs: { reviews: 'sha-r', meta: 'sha-m' },
  };

  test('is stable and starts with the stage name', () => {
    assert.equal(stageKey(base), stageKey(structuredClone(base)));
    assert.match(stageKey(base), /^ingest-[0-9a-f]{32}$/);
  });

  test('changes when the stage, code version, config slice or any input digest changes', () => {
    const key = stageKey(base);
    const variants: KeyInputs[] = [
      { ...base, stage: 'ingest2' },
      { ...base, codeVersion: 'ingest/2' },
      { ...base, config: { ...(base.config as object), kCore: 10 } },
      { ...base, config: { kCore: 5, dedupe: true, nested: { a: 1, b: 3 } } },
      { ...base, inputs: { reviews: 'sha-r2', meta: 'sha-m' } },
      { ...base, inputs: { reviews: 'sha-r', meta: 'sha-m2' } },
      { ...base, inputs: { reviews: 'sha-r', meta: 'sha-m', extra: 'sha-x' } },
    ];
    const keys = variants.map(stageKey);
    for (const [i, k] of keys.entries()) assert.notEqual(k, key, `variant ${i} should change the key`);
    assert.equal(new Set(keys).size, keys.length);
  });

  test('does not change when config or input keys are written in another order', () => {
    const reordered: KeyInputs = {
      inputs: { meta: 'sha-m', reviews: 'sha-r' },
      config: { nested: { b: 2, a: 1 }, dedupe: true, kCore: 5 },
      codeVersion: 'ingest/1',
      stage: 'ingest',
    };
    assert.equal(stageKey(reordered), stageKey(base));
  });
});

describe('sweeping orphaned attempts', () => {
  test('keeps the published and recent attempts, lists old orphans on a dry run, removes them otherwise', async () => {
    const store = await freshStore();
    const winner = await store.beginAttempt('ingest', 'ingest-s', 'winner');
    await writeFile(path.join(winner.dir, 'out.txt'), 'ok');
    await store.publish(winner, { summary: {}, keyInputs: {} });
    const crashed = await store.beginAttempt('ingest', 'ingest-s', 'crashed');
    await writeFile(path.join(crashed.dir, 'half.txt'), 'half');
    const lost = await store.beginAttempt('ingest', 'ingest-none', 'lost');
    await writeFile(path.join(lost.dir, 'a.txt'), 'a');
    const fresh = await store.beginAttempt('ingest', 'ingest-none', 'running');
    await writeFile(path.join(fresh.dir, 'b.txt'), 'b');
    const old = new Date(Date.now() - 2 * 3_600_000);
    for (const dir of [winner.dir, crashed.dir, lost.dir]) {
      for (const name of await readdir(dir)) await utimes(path.join(dir, name), old, old);
      await utimes(dir, old, old);
    }

    const dry = await store.sweep({ olderThanMs: 3_600_000, dryRun: true });
    assert.deepEqual(dry.orphans.map((o) => `${o.key}/${o.attempt}`).sort(), ['ingest-none/lost', 'ingest-s/crashed']);
    assert.equal(dry.orphans.find((o) => o.attempt === 'crashed')?.bytes, 4);
    assert.equal(dry.removed, false);
    assert.equal(await exists(crashed.dir), true);

    const swept = await store.sweep({ olderThanMs: 3_600_000 });
    assert.equal(swept.orphans.length, 2);
    assert.equal(await exists(crashed.dir), false);
    assert.equal(await exists(lost.dir), false);
    assert.equal(await exists(fresh.dir), true, 'a recent attempt may still be running');
    assert.equal(await exists(winner.dir), true);
  });
});
