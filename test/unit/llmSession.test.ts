import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { loadQwen } from '../../src/llm/checkpoint.js';
import { growCacheDevice, growCacheHost } from '../../src/llm/attention.js';
import type { QwenModel } from '../../src/llm/model.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/llm/', import.meta.url));

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
});

/** Logits of the token after `ids` for the given candidates, by a full forward of the whole sequence. */
function fullForwardNext(model: QwenModel, ids: number[], candidates: Int32Array): Float32Array {
  return tf.tidy(() => {
    const hidden = model.hidden(Int32Array.from(ids), 1, ids.length);
    const last = tf.slice(hidden, [ids.length - 1, 0], [1, model.hiddenSize]) as tf.Tensor2D;
    return Float32Array.from(model.headLogits(last, candidates).dataSync());
  });
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) <= 1e-4, `${what}[${i}]: cached ${v} vs full ${expected[i]}`));
}

for (const [name, backend] of [['qwen3-tiny', 'wasm'], ['qwen2-tiny', 'wasm'], ['qwen3-mqa-bias', 'wasm'], ['qwen2-tiny', 'cpu']] as const) {
  test(`${name} on ${backend}: KV-cache decoding equals the full forward for prompts of different lengths after reordering and duplicating rows`, async () => {
    await tf.setBackend(backend);
    const model = await loadQwen(join(FIXTURES, name), { backend: { name: backend, package: '', simd: null, threads: 1, gpu: false } });
    const V = model.vocabSize;
    const prompts = [[5, 17, 250, 3, 99], [42], [7, 7, 8, 120, 33, 201, 64, 2, 11]].map((p) => p.map((id) => id % V));
    const session = await model.sessions.start(prompts.map((p) => Int32Array.from(p)));
    assert.equal(session.rows, 3);
    let rows = prompts.map((p) => [...p]);
    const candidates = (r: number) => Int32Array.of((r * 31 + 4) % V, V - 1, 0, (r * 7 + 150) % V);
    // Each step: rows continue parents (reordered, duplicated, one dropped), appending a token.
    const steps: Array<[number[], number[]]> = [
      [[2, 0, 0, 1], [10, 11, 12, 13]],
      [[3, 3, 1, 0, 2], [200, 201, 5, 6, 7]],
      [[4, 0], [1, 299]],
    ];
    const check = async (label: string) => {
      const allowed = rows.map((_, r) => candidates(r));
      const cached = await session.nextLogits(allowed);
      rows.forEach((ids, r) => assertClose(cached[r]!, fullForwardNext(model, ids, allowed[r]!), `${label} row ${r}`));
    };
    await check('after the prompts');
    for (const [s, [parents, tokens]] of steps.entries()) {
      await session.advance(Int32Array.from(parents), Int32Array.from(tokens, (t) => t % V));
      rows = parents.map((p, j) => [...rows[p]!, tokens[j]! % V]);
      assert.equal(session.rows, rows.length);
      await check(`after step ${s + 1}`);
    }
    session.dispose();
    await assert.rejects(session.nextLogits([]), /disposed/);
    model.dispose();
    await tf.setBackend('wasm');
  });
}

test('nextLogits returns values only for each row\'s allowed ids, in their order', async () => {
  const model = await loadQwen(join(FIXTURES, 'qwen3-tiny'));
  const session = await model.sessions.start([Int32Array.of(1, 2, 3), Int32Array.of(4)]);
  const [a, b] = await session.nextLogits([Int32Array.of(9, 8), Int32Array.of()]);
  assert.equal(a!.length, 2);
  assert.equal(b!.length, 0);
  const [swapped] = await session.nextLogits([Int32Array.of(8, 9), Int32Array.of(1)]);
  assert.equal(swapped![0], a![1]);
  assert.equal(swapped![1], a![0]);
  await assert.rejects(session.nextLogits([Int32Array.of(300), Int32Array.of()]), /token id 300 is outside the vocabulary/);
  await assert.rejects(session.advance(Int32Array.of(2), Int32Array.of(5)), /parent 2 is not a row/);
  session.dispose();
  await assert.rejects(model.sessions.start([Int32Array.of()]), /prompt 0 is empty/);
  model.dispose();
});

test('a session frees its cache: no tensors are left behind after dispose', async () => {
  const model = await loadQwen(join(FIXTURES, 'qwen2-tiny'));
  const before = tf.memory().numTensors;
  const session = await model.sessions.start([Int32Array.of(1, 2), Int32Array.of(3, 4, 5)]);
  await session.nextLogits([Int32Array.of(1), Int32Array.of(2)]);
  await session.advance(Int32Array.of(1, 1, 0), Int32Array.of(6, 7, 8));
  await session.advance(Int32Array.of(2), Int32Array.of(9));
  session.dispose();
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('sessionFactory(opts) decodes with the given linear layers (an unmerged adapter), like hidden(..., opts)', async () => {
  const model = await loadQwen(join(FIXTURES, 'qwen3-tiny'));
  const base = model.defaultLinear;
  const linear = (module: string, x: tf.Tensor2D) => (module.endsWith('up_proj') ? tf.mul(base(module, x), 1.5) : base(module, x)) as tf.Tensor2D;
  const session = await model.sessionFactory({ linear }).start([Int32Array.of(3, 4, 5)]);
  await session.advance(Int32Array.of(0), Int32Array.of(6));
  const candidates = Int32Array.of(1, 2, 3);
  const [cached] = await session.nextLogits([candidates]);
  const expected = tf.tidy(() => {
    const hidden = model.hidden(Int32Array.of(3, 4, 5, 6), 1, 4, { linear });
    return Float32Array.from(model.headLogits(tf.slice(hidden, [3, 0], [1, model.hiddenSize]) as tf.Tensor2D, candidates).dataSync());
  });
  assertClose(cached!, expected, 'adapter session');
  const plain = fullForwardNext(model, [3, 4, 5, 6], candidates);
  assert.ok(plain.some((v, i) => Math.abs(v - expected[i]!) > 1e-3), 'the adapter changes the logits');
  session.dispose();
  model.dispose();
});

test('the device path of the cache growth (native backends) equals the typed-array path', () => {
  const rows = 3;
  const dh = 4;
  const slots = 5;
  const values = (n: number, offset: number) => Float32Array.from({ length: n }, (_, i) => offset + i * 0.5);
  const cache = { kT: tf.tensor3d(values(rows * dh * slots, 0), [rows, dh, slots]), v: tf.tensor3d(values(rows * slots * dh, 100), [rows, slots, dh]) };
  const kvRows = Int32Array.of(2, 0, 0, 1);
  const k = tf.tensor2d(values(4 * dh, -50), [4, dh]);
  const v = tf.tensor2d(values(4 * dh, -90), [4, dh]);
  const host = growCacheHost(cache, kvRows, k, v, dh);
  const device = growCacheDevice(cache, kvRows, k, v, dh);
  assert.deepEqual(host.kT.shape, [4, dh, slots + 1]);
  assert.deepEqual(host.kT.arraySync(), device.kT.arraySync());
  assert.deepEqual(host.v.arraySync(), device.v.arraySync());
  tf.dispose([cache.kT, cache.v, k, v, host.kT, host.v, device.kT, device.v]);
});

test('a failed advance leaves the session as it was; dropping every row leaves an empty, valid session', async () => {
  const model = await loadQwen(join(FIXTURES, 'qwen2-tiny'));
  const session = await model.sessions.start([Int32Array.of(1, 2), Int32Array.of(3)]);
  const before = await session.nextLogits([Int32Array.of(5), Int32Array.of(6)]);
  const tensors = tf.memory().numTensors;
  await assert.rejects(session.advance(Int32Array.of(0, 1), Int32Array.of(4, 300)), /token id 300 at index 1 is outside the vocabulary/);
  assert.equal(tf.memory().numTensors, tensors);
  assert.deepEqual(await session.nextLogits([Int32Array.of(5), Int32Array.of(6)]), before);
  await session.advance(Int32Array.of(), Int32Array.of());
  assert.equal(session.rows, 0);
  assert.deepEqual(await session.nextLogits([]), []);
  session.dispose();
  model.dispose();
});
