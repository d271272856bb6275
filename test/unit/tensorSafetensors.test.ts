import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadInputError } from '../../src/errors.js';
import { decodeSafetensors, encodeSafetensors, halfToFloat, SafetensorsFile, writeSafetensors, type WritableTensor } from '../../src/tensor/safetensors.js';
import { openCheckpoint, ShardedCheckpoint, writeCheckpoint } from '../../src/tensor/checkpoint.js';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { fromTensor, loadTensors, toTensor } from '../../src/tensor/hostTensor.js';

/**
 * Written by Python safetensors 0.8.0 + numpy 2.4.6:
 *   save({"f32": float32 [[1.5, -2.25, 3], [0, 1e-3, -7]], "f16": float16 [1, -2, 65504, 2**-24, 0.333251953125, inf],
 *         "i64": int64 [0, -1, 2**31-1, -2**31], "i32": int32 [[7], [-8]], "b": bool [1, 0, 1], "u8": uint8 [0, 255, 17]},
 *        metadata={"format": "np", "note": "fixture"})
 */
const PY_MIXED =
  '88010000000000007b225f5f6d657461646174615f5f223a7b226e6f7465223a2266697874757265222c22666f726d6174223a226e70227d2c22693634223a7b226474797065223a22493634222c227368617065223a5b345d2c22646174615f6f666673657473223a5b302c33325d7d2c22663332223a7b226474797065223a22463332222c227368617065223a5b322c335d2c22646174615f6f666673657473223a5b33322c35365d7d2c22693332223a7b226474797065223a22493332222c227368617065223a5b322c315d2c22646174615f6f666673657473223a5b35362c36345d7d2c22663136223a7b226474797065223a22463136222c227368617065223a5b365d2c22646174615f6f666673657473223a5b36342c37365d7d2c227538223a7b226474797065223a225538222c227368617065223a5b335d2c22646174615f6f666673657473223a5b37362c37395d7d2c2262223a7b226474797065223a22424f4f4c222c227368617065223a5b335d2c22646174615f6f666673657473223a5b37392c38325d7d7d200000000000000000ffffffffffffffffffffff7f0000000000000080ffffffff0000c03f000010c000004040000000006f12833a0000e0c007000000f8ffffff003c00c0ff7b01005535007c00ff11010001';

/**
 * Python safetensors 0.8.0: save({"layer.b": float32 [[0.5, -1], [2, 3.25]], "codes": int32 [3, 1, 4, 1, 5],
 * "z": float32 zeros (0, 3), "emb.weight": float32 [1]}, metadata={"format": "pt"}).
 */
const PY_F32_I32 =
  '10010000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a227074227d2c22656d622e776569676874223a7b226474797065223a22463332222c227368617065223a5b315d2c22646174615f6f666673657473223a5b302c345d7d2c226c617965722e62223a7b226474797065223a22463332222c227368617065223a5b322c325d2c22646174615f6f666673657473223a5b342c32305d7d2c227a223a7b226474797065223a22463332222c227368617065223a5b302c335d2c22646174615f6f666673657473223a5b32302c32305d7d2c22636f646573223a7b226474797065223a22493332222c227368617065223a5b355d2c22646174615f6f666673657473223a5b32302c34305d7d7d0000803f0000003f000080bf00000040000050400300000001000000040000000100000005000000';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'lcrec-safetensors-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A file from a header object and data bytes, padded like the reference writer. */
function rawFile(header: unknown, data: Uint8Array | number[] = []): Uint8Array {
  const json = Buffer.from(JSON.stringify(header));
  const padded = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(padded.length));
  return new Uint8Array(Buffer.concat([prefix, padded, Buffer.from(data)]));
}

test('reads a file written by Python safetensors: F32, F16, I64, I32, BOOL, U8 and metadata', () => {
  const { metadata, tensors } = decodeSafetensors(hex(PY_MIXED), 'py.safetensors');
  assert.deepEqual(metadata, { note: 'fixture', format: 'np' });
  assert.deepEqual([...tensors.keys()], ['b', 'f16', 'f32', 'i32', 'i64', 'u8']);
  assert.deepEqual(tensors.get('f32'), { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1.5, -2.25, 3, 0, 1e-3, -7]) });
  assert.deepEqual(tensors.get('f16'), { dtype: 'float32', shape: [6], data: Float32Array.from([1, -2, 65504, 2 ** -24, 0.333251953125, Infinity]) });
  assert.deepEqual(tensors.get('i64'), { dtype: 'int32', shape: [4], data: Int32Array.from([0, -1, 2147483647, -2147483648]) });
  assert.deepEqual(tensors.get('i32'), { dtype: 'int32', shape: [2, 1], data: Int32Array.from([7, -8]) });
  assert.deepEqual(tensors.get('b'), { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) });
  assert.deepEqual(tensors.get('u8'), { dtype: 'uint8', shape: [3], data: Uint8Array.from([0, 255, 17]) });
});

test('writes byte-for-byte what Python safetensors writes for the same F32/I32 tensors', () => {
  const tensors = new Map<string, WritableTensor>([
    ['codes', { shape: [5], data: Int32Array.from([3, 1, 4, 1, 5]) }],
    ['z', { shape: [0, 3], data: new Float32Array(0) }],
    ['layer.b', { shape: [2, 2], data: Float32Array.from([0.5, -1, 2, 3.25]) }],
    ['emb.weight', { shape: [1], data: Float32Array.from([1]) }],
  ]);
  const bytes = encodeSafetensors(tensors, { format: 'pt' });
  assert.equal(Buffer.from(bytes).toString('hex'), PY_F32_I32);
  // Insertion order does not matter; a plain object works too.
  const reversed = Object.fromEntries([...tensors].reverse());
  assert.deepEqual(encodeSafetensors(reversed, { format: 'pt' }), bytes);
});

test('round trip through a file: values, shapes, scalars, empty tensors, metadata; header padded to 8 with spaces', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'model.safetensors');
    const weight = Float32Array.from({ length: 12 }, (_, i) => i * 0.25 - 1);
    await writeSafetensors(
      path,
      {
        'encoder.0.weight': { shape: [3, 4], data: weight },
        step: { shape: [], data: Int32Array.from([42]) },
        empty: { shape: [0], data: new Float32Array(0) },
        codes: { shape: [2, 2], data: Int32Array.from([-1, 0, 255, 2 ** 31 - 1]) },
      },
      { epoch: '5000', format: 'lcrec' },
    );
    const bytes = await readFile(path);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal(n % 8, 0);
    const header = bytes.subarray(8, 8 + n).toString('utf8');
    assert.match(header, /^\{"__metadata__":\{"epoch":"5000","format":"lcrec"\},"empty":\{"dtype":"F32","shape":\[0\],"data_offsets":\[0,0\]\},"encoder.0.weight":/);
    assert.equal(header.trimEnd(), JSON.stringify(JSON.parse(header)));
    assert.ok(/^ *$/.test(header.slice(header.lastIndexOf('}') + 1)));

    const file = await SafetensorsFile.open(path);
    try {
      assert.deepEqual(file.metadata, { epoch: '5000', format: 'lcrec' });
      assert.deepEqual(file.names(), ['codes', 'empty', 'encoder.0.weight', 'step']);
      assert.deepEqual(await file.read('encoder.0.weight'), { dtype: 'float32', shape: [3, 4], data: weight });
      assert.deepEqual(await file.read('step'), { dtype: 'int32', shape: [], data: Int32Array.from([42]) });
      assert.deepEqual(await file.read('empty'), { dtype: 'float32', shape: [0], data: new Float32Array(0) });
      assert.deepEqual((await file.read('codes')).data, Int32Array.from([-1, 0, 255, 2 ** 31 - 1]));
      await assert.rejects(file.read('nope'), /no tensor named 'nope'/);
    } finally {
      await file.close();
    }
    // No temporary file is left behind.
    assert.deepEqual(await readdir(dir), ['model.safetensors']);
  });
});

test('BF16 widens to float32 as the high half of the bits', () => {
  const bits = [0x3f80, 0xc000, 0x7f80, 0xff80, 0x7fc0, 0x3eab, 0x0001, 0x8000];
  const data = new Uint8Array(new Uint16Array(bits).buffer);
  const { tensors } = decodeSafetensors(rawFile({ w: { dtype: 'BF16', shape: [8], data_offsets: [0, 16] } }, data));
  const w = tensors.get('w')!;
  assert.equal(w.dtype, 'float32');
  const v = Array.from(w.data);
  assert.deepEqual(v.slice(0, 4), [1, -2, Infinity, -Infinity]);
  assert.ok(Number.isNaN(v[4]));
  assert.equal(v[5], 0.333984375);
  assert.equal(v[6], 2 ** -133); // float32 subnormal
  assert.ok(Object.is(v[7], -0));
});

test('F16 decoding handles normals, subnormals, zero signs, infinities and NaN', () => {
  const cases: Array<[number, number]> = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x7bff, 65504],
    [0x3555, 0.333251953125],
    [0x0400, 2 ** -14],
    [0x0001, 2 ** -24],
    [0x03ff, 1023 * 2 ** -24],
    [0x8001, -(2 ** -24)],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
    [0x0000, 0],
  ];
  for (const [h, v] of cases) assert.equal(halfToFloat(h), v, h.toString(16));
  assert.ok(Object.is(halfToFloat(0x8000), -0));
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  assert.ok(Number.isNaN(halfToFloat(0xfc01)));
  // Through a file, at an odd data offset (copied to an aligned buffer).
  const data = new Uint8Array([0xff, ...new Uint8Array(new Uint16Array([0x3c00, 0x0001]).buffer)]);
  const { tensors } = decodeSafetensors(rawFile({ pad: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, h: { dtype: 'F16', shape: [2], data_offsets: [1, 5] } }, data));
  assert.deepEqual(tensors.get('h')!.data, Float32Array.from([1, 2 ** -24]));
});

test('I64 values outside int32 are refused, naming the tensor and the value', () => {
  const data = new Uint8Array(new BigInt64Array([1n, 2n ** 31n]).buffer);
  assert.throws(
    () => decodeSafetensors(rawFile({ ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, data), 'ids.safetensors'),
    (e: unknown) => e instanceof BadInputError && e.message === "ids.safetensors: tensor 'ids': I64 value 2147483648 at index 1 does not fit in int32",
  );
});

test('dtypes tfjs cannot hold are refused when read, naming the file and the tensor', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'w.safetensors');
    await writeFile(path, rawFile({ ok: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, w: { dtype: 'F64', shape: [1], data_offsets: [4, 12] } }, new Uint8Array(12)));
    const file = await SafetensorsFile.open(path); // other tensors stay readable
    try {
      assert.deepEqual((await file.read('ok')).data, new Float32Array(1));
      await assert.rejects(file.read('w'), (e: unknown) => {
        assert.ok(e instanceof BadInputError);
        assert.equal(e.message, `${path}: tensor 'w' has dtype F64, which lcrec cannot load (supported: F32, F16, BF16, I32, I64, BOOL, U8)`);
        return true;
      });
    } finally {
      await file.close();
    }
  });
});

test('invalid headers are refused with a message that says what is wrong', () => {
  const bad = (bytes: Uint8Array, pattern: RegExp) =>
    assert.throws(() => decodeSafetensors(bytes, 'bad.safetensors'), (e: unknown) => e instanceof BadInputError && pattern.test(e.message) && e.message.startsWith('bad.safetensors: '));
  const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
  bad(new Uint8Array(5), /shorter than the 8-byte header length/);
  bad(Uint8Array.from([0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x7b]), /header length 65535 exceeds/);
  bad(rawFile('just a string'), /not a JSON object/);
  const notJson = rawFile({});
  notJson.set(Buffer.from('{"a":'), 8);
  bad(notJson, /not UTF-8 JSON/);
  bad(rawFile({ a: f32(0, 8), b: f32(4, 12) }, new Uint8Array(12)), /tensor 'b' data_offsets \[4, 12\] overlap tensor 'a'/);
  bad(rawFile({ a: f32(0, 4), b: f32(8, 12) }, new Uint8Array(12)), /4 unused bytes before tensor 'b'/);
  bad(rawFile({ a: f32(0, 16) }, new Uint8Array(8)), /tensor 'a' data_offsets end at 16, past the 8 data bytes/);
  bad(rawFile({ a: f32(0, 8, [3]) }, new Uint8Array(8)), /tensor 'a': shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] hold 8/);
  bad(rawFile({ a: f32(0, 4) }, new Uint8Array(8)), /4 bytes after the last tensor/);
  bad(rawFile({ a: { dtype: 'Q7', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), /tensor 'a': unknown dtype "Q7"/);
  bad(rawFile({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /shape \[-1\] is not a list of non-negative integers/);
  bad(rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, new Uint8Array(4)), /end before they begin/);
  bad(rawFile({ __metadata__: { epoch: 5 } }), /__metadata__ 'epoch' must be a string/);
});

test('writing validates names, shapes and dtypes', () => {
  assert.throws(() => encodeSafetensors({ a: { shape: [2, 2], data: new Float32Array(3) } }), /shape \[2,2\] but 3 values/);
  assert.throws(() => encodeSafetensors({ __metadata__: { shape: [1], data: new Float32Array(1) } }), /invalid tensor name/);
  assert.throws(() => encodeSafetensors({ a: { shape: [1], data: new Float64Array(1) as unknown as Float32Array } }), /Float32Array or Int32Array/);
});

test('sharded checkpoints: HF file names and index, shards opened only when read', async () => {
  await withTempDir(async (dir) => {
    const tensors: Record<string, WritableTensor> = {};
    for (let i = 0; i < 5; i++) tensors[`layers.${i}.weight`] = { shape: [4, 4], data: Float32Array.from({ length: 16 }, (_, j) => i * 100 + j) };
    tensors['big'] = { shape: [40], data: new Float32Array(40).fill(7) }; // 160 bytes: larger than a shard, alone
    const written = await writeCheckpoint(dir, tensors, { maxShardBytes: 150, metadata: { format: 'pt' } });
    assert.deepEqual(written, {
      files: ['model-00001-of-00004.safetensors', 'model-00002-of-00004.safetensors', 'model-00003-of-00004.safetensors', 'model-00004-of-00004.safetensors'],
      index: 'model.safetensors.index.json',
    });
    const index = await readFile(join(dir, 'model.safetensors.index.json'), 'utf8');
    assert.equal(
      index,
      JSON.stringify(
        {
          metadata: { total_size: 160 + 5 * 64 },
          weight_map: {
            big: 'model-00001-of-00004.safetensors',
            'layers.0.weight': 'model-00002-of-00004.safetensors',
            'layers.1.weight': 'model-00002-of-00004.safetensors',
            'layers.2.weight': 'model-00003-of-00004.safetensors',
            'layers.3.weight': 'model-00003-of-00004.safetensors',
            'layers.4.weight': 'model-00004-of-00004.safetensors',
          },
        },
        null,
        2,
      ) + '\n',
    );

    const checkpoint = await openCheckpoint(dir);
    assert.ok(checkpoint instanceof ShardedCheckpoint);
    try {
      assert.deepEqual(checkpoint.openedShards(), []);
      assert.deepEqual(checkpoint.names(), ['big', 'layers.0.weight', 'layers.1.weight', 'layers.2.weight', 'layers.3.weight', 'layers.4.weight']);
      assert.deepEqual((await checkpoint.read('layers.3.weight')).data, tensors['layers.3.weight']!.data);
      assert.deepEqual(checkpoint.openedShards(), ['model-00003-of-00004.safetensors']);
      for (const name of checkpoint.names()) assert.deepEqual((await checkpoint.read(name)).data, tensors[name]!.data);
      assert.equal(checkpoint.openedShards().length, 4);
      const shard = await SafetensorsFile.open(join(dir, 'model-00002-of-00004.safetensors'));
      assert.deepEqual(shard.metadata, { format: 'pt' });
      await shard.close();
    } finally {
      await checkpoint.close();
    }

    // Rewriting as one file removes the index, so the directory cannot open stale shards.
    assert.deepEqual(await writeCheckpoint(dir, { a: { shape: [1], data: Float32Array.from([1]) } }), { files: ['model.safetensors'] });
    const single = await openCheckpoint(dir);
    assert.ok(single instanceof SafetensorsFile);
    assert.deepEqual(single.names(), ['a']);
    await single.close();
  });
});

test('a broken index is refused: escaping shard paths, missing tensors, no weight_map', async () => {
  await withTempDir(async (dir) => {
    await writeCheckpoint(dir, { a: { shape: [1], data: Float32Array.from([1]) }, b: { shape: [1], data: Float32Array.from([2]) } }, { maxShardBytes: 4 });
    const indexPath = join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(indexPath, 'utf8')) as { weight_map: Record<string, string> };
    index.weight_map['c'] = index.weight_map['a']!;
    await writeFile(indexPath, JSON.stringify(index));
    const checkpoint = await ShardedCheckpoint.open(indexPath);
    await assert.rejects(checkpoint.read('c'), /the index puts tensor 'c' in model-00001-of-00002.safetensors, but that shard has no such tensor/);
    await checkpoint.close();

    await writeFile(indexPath, JSON.stringify({ weight_map: { a: '../outside.safetensors' } }));
    await assert.rejects(ShardedCheckpoint.open(indexPath), /not a file next to the index/);
    await writeFile(indexPath, JSON.stringify({ metadata: {} }));
    await assert.rejects(ShardedCheckpoint.open(indexPath), /no "weight_map" object/);
    await assert.rejects(openCheckpoint(join(dir, 'missing')), /ENOENT/);
  });
});

test('host tensors become tf tensors of the shared engine and back', async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
  await withTempDir(async (dir) => {
    const w = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
    const codes = tf.tensor1d([3, 1, 2], 'int32');
    await writeCheckpoint(dir, { w: await fromTensor(w), codes: await fromTensor(codes) });
    const source = await openCheckpoint(dir);
    const loaded = await loadTensors(source);
    await source.close();
    assert.deepEqual(loaded.get('w')!.arraySync(), [[1, 2, 3], [4, 5, 6]]);
    assert.equal(loaded.get('codes')!.dtype, 'int32');
    assert.deepEqual(Array.from(loaded.get('codes')!.dataSync()), [3, 1, 2]);
    const u8 = toTensor({ dtype: 'uint8', shape: [2], data: Uint8Array.from([200, 7]) });
    assert.equal(u8.dtype, 'int32');
    assert.deepEqual(Array.from(u8.dataSync()), [200, 7]);
    await assert.rejects(fromTensor(tf.tensor([true], [1], 'bool')), /cannot save a bool tensor/);
    for (const t of [w, codes, u8, ...loaded.values()]) t.dispose();
  });
});
