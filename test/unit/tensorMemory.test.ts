import { test } from 'node:test';
import assert from 'node:assert/strict';
import { totalmem } from 'node:os';
import { BadInputError } from '../../src/errors.js';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import type { BackendInfo } from '../../src/tensor/backend.js';
import { bytesOf, checkMemory, engineMemory, WASM_HEAP_MAX_BYTES } from '../../src/tensor/memory.js';

const GIB = 1024 ** 3;
const wasm: BackendInfo = { name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', simd: true, threads: 1, gpu: false };
const cpu: BackendInfo = { name: 'cpu', package: '@tensorflow/tfjs-backend-cpu', simd: null, threads: 1, gpu: false };
const native: BackendInfo = { name: 'tensorflow', package: '@tensorflow/tfjs-node', simd: null, threads: null, gpu: false };

test('bytesOf counts 4 bytes per float32/int32 element and 1 per bool', () => {
  assert.equal(bytesOf([1024, 768]), 1024 * 768 * 4);
  assert.equal(bytesOf([2, 3], 'int32'), 24);
  assert.equal(bytesOf([10], 'bool'), 10);
  assert.equal(bytesOf([]), 4); // a scalar
  assert.equal(bytesOf([0, 5]), 0);
  assert.throws(() => bytesOf([2, -1]), RangeError);
  assert.throws(() => bytesOf([1.5]), RangeError);
});

test('wasm refuses what exceeds its 4 GiB heap, naming the job and the way out', () => {
  const big = 4.16 * GIB; // * 1.25 margin = 5.2 GiB
  assert.throws(
    () => checkMemory(big, wasm, 'RQ-VAE training', { totalMemBytes: 64 * GIB }),
    (error: unknown) => {
      assert.ok(error instanceof BadInputError);
      assert.equal(
        error.message,
        'RQ-VAE training needs ~5.2 GiB (4.2 GiB of tensors + 25% for temporaries) but the wasm backend holds at most 4 GiB; use a smaller batch or install @tensorflow/tfjs-node',
      );
      return true;
    },
  );
  // The margin is part of the budget: 3.5 GiB of tensors alone would fit, with temporaries it does not.
  assert.throws(() => checkMemory(3.5 * GIB, wasm, 'x', { totalMemBytes: 64 * GIB }), BadInputError);
  assert.doesNotThrow(() => checkMemory(3.5 * GIB, wasm, 'x', { totalMemBytes: 64 * GIB, margin: 0 }));
  const ok = checkMemory(1 * GIB, wasm, 'x', { totalMemBytes: 64 * GIB });
  assert.deepEqual(ok, { neededBytes: 1.25 * GIB, limitBytes: WASM_HEAP_MAX_BYTES });
});

test('a small machine bounds wasm below 4 GiB too', () => {
  assert.throws(() => checkMemory(2 * GIB, wasm, 'training', { totalMemBytes: 2 * GIB }), /needs ~2.5 GiB .* but this machine has 2.0 GiB of memory \(wasm backend\)/);
});

test('cpu and native backends are bounded by the machine memory, not by 4 GiB', () => {
  assert.doesNotThrow(() => checkMemory(10 * GIB, cpu, 'x', { totalMemBytes: 32 * GIB }));
  assert.doesNotThrow(() => checkMemory(10 * GIB, native, 'x', { totalMemBytes: 32 * GIB }));
  assert.throws(() => checkMemory(30 * GIB, native, 'LLM fine-tuning', { totalMemBytes: 32 * GIB }), /LLM fine-tuning needs ~38 GiB .* but this machine has 32 GiB of memory \(tensorflow backend\); use a smaller batch$/);
  // Default: the real machine.
  assert.doesNotThrow(() => checkMemory(totalmem() / 4, cpu, 'x'));
  assert.throws(() => checkMemory(totalmem() * 2, cpu, 'x'), BadInputError);
  assert.throws(() => checkMemory(Number.NaN, cpu, 'x'), RangeError);
});

test('engineMemory counts live tensors; the wasm heap grows and never shrinks', async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
  const before = engineMemory();
  assert.ok(before.wasmHeapBytes !== null && before.wasmHeapBytes > 0);
  const big = tf.zeros([64, 1024, 1024]); // 256 MiB
  const during = engineMemory();
  assert.equal(during.tensors, before.tensors + 1);
  assert.equal(during.tensorBytes, before.tensorBytes + bytesOf([64, 1024, 1024]));
  assert.ok(during.wasmHeapBytes! >= bytesOf([64, 1024, 1024]) && during.wasmHeapBytes! > before.wasmHeapBytes!);
  big.dispose();
  const after = engineMemory();
  assert.equal(after.tensors, before.tensors);
  assert.equal(after.wasmHeapBytes, during.wasmHeapBytes);
  await tf.setBackend('cpu');
  assert.equal(engineMemory().wasmHeapBytes, null);
  await tf.setBackend('wasm');
});
