import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BadInputError } from '../../src/errors.js';
import { parseAssignment, resolveConfig, validateConfig, type ConfigSources } from '../../src/config/load.js';
import { PRESETS, PRESET_NAMES } from '../../src/config/presets.js';
import { canonicalJson, digestOf } from '../../src/util/canonical.js';

let tmp: string | undefined;
after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function tempFile(name: string, content: string): Promise<string> {
  tmp ??= await mkdtemp(path.join(os.tmpdir(), 'lcrec-'));
  const file = path.join(tmp, name);
  await writeFile(file, content);
  return file;
}

/** Resolving `sources` fails with a BadInputError whose message contains every one of `parts`. */
async function rejectsNaming(sources: ConfigSources, ...parts: string[]): Promise<BadInputError> {
  let caught: unknown;
  await assert.rejects(resolveConfig(sources), (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof BadInputError, `expected a BadInputError, got ${String(caught)}`);
  for (const part of parts) assert.ok(caught.message.includes(part), `message should contain '${part}': ${caught.message}`);
  return caught;
}

describe('presets', () => {
  test('no preset given resolves to the complete, valid tiny preset', async () => {
    const config = await resolveConfig({});
    assert.deepEqual(config, PRESETS.tiny);
    assert.deepEqual(validateConfig(PRESETS.tiny), PRESETS.tiny);
    assert.equal(config.dataset.source, 'sample');
  });

  test('paper without a dataset source fails naming dataset.source', async () => {
    const err = await rejectsNaming({ preset: 'paper' }, 'dataset.source');
    assert.equal(err.location.field, 'dataset.source');
  });

  test('paper with a dataset source resolves to the paper values', async () => {
    const config = await resolveConfig({ preset: 'paper', sets: ['dataset.source=/data/beauty'] });
    assert.equal(config.dataset.source, '/data/beauty');
    assert.equal(config.ingest.kCore, 5);
    assert.equal(config.name, 'paper');
  });

  test('an unknown preset lists the valid ones', async () => {
    await rejectsNaming({ preset: 'huge' }, "'huge'", ...PRESET_NAMES);
  });
});

describe('config files and --set layer over the preset in order', () => {
  test('YAML then JSON file, later keys win, untouched keys keep the preset value', async () => {
    const yaml = await tempFile('a.yaml', 'name: first\ningest:\n  kCore: 7\n  dedupe: false\n');
    const json = await tempFile('b.json', JSON.stringify({ ingest: { kCore: 9 }, seed: 7 }));
    const config = await resolveConfig({ files: [yaml, json] });
    assert.equal(config.name, 'first');
    assert.equal(config.ingest.kCore, 9);
    assert.equal(config.ingest.dedupe, false);
    assert.equal(config.seed, 7);
    // Deep merge: siblings of overridden keys come from the preset.
    assert.equal(config.ingest.minSequenceLength, PRESETS.tiny.ingest.minSequenceLength);
    assert.deepEqual(config.dataset, PRESETS.tiny.dataset);

    const reversed = await resolveConfig({ files: [json, yaml] });
    assert.equal(reversed.ingest.kCore, 7);
  });

  test('--set overrides are applied after the files', async () => {
    const yaml = await tempFile('c.yaml', 'ingest:\n  kCore: 7\n');
    const config = await resolveConfig({ files: [yaml], sets: ['ingest.kCore=10'] });
    assert.equal(config.ingest.kCore, 10);
  });

  test('--set reads numbers, booleans and null', async () => {
    const config = await resolveConfig({ sets: ['ingest.kCore=10', 'ingest.dedupe=false', 'seed=0'] });
    assert.equal(config.ingest.kCore, 10);
    assert.equal(config.ingest.dedupe, false);
    assert.equal(config.seed, 0);
    const nulled = await resolveConfig({ preset: 'paper', sets: ['dataset.source=x', 'ingest.kCore=null'] });
    assert.equal(nulled.ingest.kCore, null);
    assert.deepEqual(parseAssignment('dataset.sample.users=1000'), { dataset: { sample: { users: 1000 } } });
  });

  test('a --set without key=value is refused', async () => {
    await rejectsNaming({ sets: ['ingest.kCore'] }, '--set expects key.path=value');
    await rejectsNaming({ sets: ['=5'] }, '--set expects key.path=value');
  });
});

describe('errors name the offending key', () => {
  test('wrong type', async () => {
    const err = await rejectsNaming({ sets: ['ingest.kCore=abc'] }, 'ingest.kCore');
    assert.equal(err.location.field, 'ingest.kCore');
  });

  test('out of range', async () => {
    const kCore = await rejectsNaming({ sets: ['ingest.kCore=-1'] }, 'ingest.kCore');
    assert.equal(kCore.location.field, 'ingest.kCore');
    const seed = await rejectsNaming({ sets: ['seed=-3'] }, 'seed');
    assert.equal(seed.location.field, 'seed');
  });

  test('unknown key', async () => {
    const err = await rejectsNaming({ sets: ['ingest.kcore=5'] }, 'ingest.kcore: unknown key');
    assert.equal(err.location.field, 'ingest.kcore');
  });

  test('several problems are all reported', async () => {
    await rejectsNaming({ sets: ['ingest.kCore=abc', 'seed=-3'] }, 'ingest.kCore', 'seed');
  });

  test('a malformed config file is named', async () => {
    const broken = await tempFile('broken.yaml', 'ingest:\n  kCore: [1, 2\n');
    const err = await rejectsNaming({ files: [broken] }, broken);
    assert.equal(err.location.file, broken);
  });

  test('a config file that is not a mapping is named', async () => {
    const list = await tempFile('list.yaml', '- 1\n- 2\n');
    await rejectsNaming({ files: [list] }, list, 'mapping');
  });

  test('a missing config file is named', async () => {
    tmp ??= await mkdtemp(path.join(os.tmpdir(), 'lcrec-'));
    const missing = path.join(tmp, 'nope.yaml');
    await rejectsNaming({ files: [missing] }, missing);
  });
});

describe('canonical JSON', () => {
  test('canonicalJson and digestOf do not depend on key order', () => {
    const a = { b: 1, a: { y: [1, { q: 1, p: 2 }], x: null }, c: 'z' };
    const b = { c: 'z', a: { x: null, y: [1, { p: 2, q: 1 }] }, b: 1 };
    assert.equal(canonicalJson(a), canonicalJson(b));
    assert.equal(canonicalJson(a), '{"a":{"x":null,"y":[1,{"p":2,"q":1}]},"b":1,"c":"z"}');
    assert.equal(digestOf(a), digestOf(b));
    assert.match(digestOf(a), /^[0-9a-f]{64}$/);
  });

  test('array order and values still matter, undefined members are dropped', () => {
    assert.notEqual(digestOf({ a: [1, 2] }), digestOf({ a: [2, 1] }));
    assert.notEqual(digestOf({ a: 1 }), digestOf({ a: '1' }));
    assert.equal(digestOf({ a: 1, b: undefined }), digestOf({ a: 1 }));
  });

  test('non-finite numbers are refused rather than hashed as null', () => {
    assert.throws(() => canonicalJson({ a: Number.NaN }), /non-finite/);
  });
});
