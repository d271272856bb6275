import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderDatasetEntry, renderDatasetList, UNVERIFIED_MARK } from '../../cli/datasetsCommand.js';
import { listDatasets, resolveDatasetName } from '../../datasets/registry.js';
import { resolveSourceFiles } from '../../src/data/sources.js';
import { BadInputError } from '../../src/errors.js';

const BIN = fileURLToPath(new URL('../../bin/lcrec.js', import.meta.url));

function lcrec(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('datasets list prints every registry entry with its format, URLs and the unverified mark', () => {
  const text = renderDatasetList();
  const entries = listDatasets();
  for (const e of entries) {
    assert.match(text, new RegExp(`^${e.id} +${e.format}  ${UNVERIFIED_MARK}$`, 'm'), e.id);
    for (const f of e.files) assert.ok(text.includes(`    ${f.url}\n`), f.url);
  }
  assert.ok(text.endsWith(`${entries.length} datasets; ${entries.length} ${UNVERIFIED_MARK} (URLs follow the releases' documented layouts; no sha256 known)\n`));
  // All three releases, including the 2023 benchmark splits.
  assert.match(text, /^amazon2014:beauty:5core /m);
  assert.match(text, /^amazon2018:gift_cards:ratings /m);
  assert.ok(text.includes('/amazon_2023/benchmark/5core/last_out_w_his/All_Beauty.valid.csv.gz\n'));
});

test('datasets list --release keeps one release; an unknown release lists the known ones', () => {
  const text = renderDatasetList('amazon2014');
  assert.doesNotMatch(text, /^amazon20(18|23):/m);
  assert.match(text, /^24 datasets;/m);
  assert.throws(() => renderDatasetList('amazon2020'), (err: unknown) => err instanceof BadInputError && /amazon2014, amazon2018, amazon2023/.test(err.message));
});

test('datasets show names the local directory and which files are already downloaded', async (t) => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'lcrec-datasets-'));
  t.after(() => rm(home, { recursive: true, force: true }));
  const dir = path.join(home, 'datasets', 'amazon2018-gift_cards-5core');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'Gift_Cards_5.json.gz'), '');
  const text = renderDatasetEntry('AMAZON2018:Gift_Cards', home);
  assert.match(text, /^amazon2018:gift_cards:5core {2}\(amazon2018, category Gift_Cards, variant 5core\)$/m);
  assert.ok(text.includes(`local:    ${dir}\n`));
  assert.match(text, /Gift_Cards_5\.json\.gz {2}\(downloaded\)\n {4}url: {4}https:\/\/jmcauley\.ucsd\.edu\/data\/amazon_v2\/categoryFilesSmall\/Gift_Cards_5\.json\.gz\n {4}sha256: unknown/);
  assert.match(text, /meta_Gift_Cards\.json\.gz {2}\(not downloaded\)/);
  assert.ok(text.includes(UNVERIFIED_MARK));
});

test('the lcrec command: datasets list and show; a bad name exits 2 naming the choices', async (t) => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'lcrec-datasets-cli-'));
  t.after(() => rm(home, { recursive: true, force: true }));
  const env = { ...process.env, LCREC_HOME: home };
  const list = await lcrec(['datasets', 'list', '--release', 'amazon2023'], env);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^amazon2023:all_beauty:5core +amazon2023 {2}not verified from this machine$/m);
  const show = await lcrec(['datasets', 'show', 'amazon2014:beauty'], env);
  assert.equal(show.code, 0, show.stderr);
  assert.ok(show.stdout.includes('http://snap.stanford.edu/data/amazon/productGraph/categoryFiles/reviews_Beauty_5.json.gz'));
  const bad = await lcrec(['datasets', 'show', 'amazon2014:nope'], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown amazon2014 category 'nope'; known: .*beauty/);
});

test('every registry entry\'s file names fit its format\'s layout (the 2023 splits: train, valid, test and metadata)', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'lcrec-registry-layout-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const seen = new Set<string>();
  for (const e of listDatasets()) {
    const shape = `${e.release}:${e.variant}`;
    if (seen.has(shape)) continue;
    seen.add(shape);
    const dir = path.join(root, e.id.replaceAll(':', '-'));
    await mkdir(dir);
    for (const f of e.files) await writeFile(path.join(dir, f.name), '');
    const found = await resolveSourceFiles(dir, e.format);
    assert.deepEqual(Object.values(found.files).map((p) => path.basename(p)).sort(), e.files.map((f) => f.name).sort(), e.id);
  }
  const splits = resolveDatasetName('amazon2023:all_beauty:timestamp_w_his');
  const dir = path.join(root, 'splits');
  await mkdir(dir);
  for (const f of splits.files) await writeFile(path.join(dir, f.name), '');
  assert.deepEqual(Object.keys((await resolveSourceFiles(dir, 'amazon2023')).files), ['reviews', 'valid', 'test', 'meta']);
});
