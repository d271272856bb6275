import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describeBackend, selectBackend, tf } from '../../src/tensor/backend.js';
import { initTensorEngine } from '../../src/tensor/init.js';
import { matMul } from '../../src/tensor/ops.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const backendModule = new URL('../../src/tensor/backend.ts', import.meta.url).href;
const nativeInstalled = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'].some((pkg) => {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
});

/** Runs a snippet in a fresh process (selection is once per process) and returns what it printed. */
function probe(code: string, env: Record<string, string | undefined> = {}): Promise<{ stdout: string; stderr: string; status: number | null }> {
  const script = `import { selectBackend, tf } from ${JSON.stringify(backendModule)};\n${code}`;
  const childEnv = { ...process.env, LCREC_TENSOR_BACKEND: undefined, ...env };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, env: childEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (status) => resolve({ stdout, stderr, status }));
  });
}

const selectTwice = `
const lines = [];
const log = (line) => lines.push(line);
const first = await selectBackend({ log });
const second = await selectBackend({ prefer: 'cpu', log });
console.log(JSON.stringify({ first, same: first === second, lines, active: tf.getBackend() }));
`;

test('auto picks wasm with SIMD here (native TensorFlow is not installed), once per process', { skip: nativeInstalled && 'tfjs-node is installed' }, async () => {
  const { stdout, stderr, status } = await probe(selectTwice);
  assert.equal(status, 0, stderr);
  const result = JSON.parse(stdout) as { first: unknown; same: boolean; lines: string[]; active: string };
  assert.deepEqual(result.first, { name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', simd: true, threads: 1, gpu: false });
  assert.equal(result.same, true);
  assert.deepEqual(result.lines, ['tensor backend: wasm (SIMD, 1 thread)']);
  assert.equal(result.active, 'wasm');
});

test('LCREC_TENSOR_BACKEND overrides prefer', async () => {
  const { stdout, stderr, status } = await probe(selectTwice.replace('selectBackend({ log })', "selectBackend({ prefer: 'wasm', log })"), { LCREC_TENSOR_BACKEND: 'CPU' });
  assert.equal(status, 0, stderr);
  const result = JSON.parse(stdout) as { first: { name: string }; lines: string[]; active: string };
  assert.equal(result.first.name, 'cpu');
  assert.deepEqual(result.lines, ['tensor backend: cpu (pure JS, slow)']);
  assert.equal(result.active, 'cpu');
});

const selectAndReport = `
try {
  await selectBackend({ log: () => {} });
  console.log('selected ' + tf.getBackend());
} catch (error) {
  console.log(error.name + ': ' + error.message);
}
`;

test('an explicit backend that cannot load is an error, not a silent fallback', { skip: nativeInstalled && 'tfjs-node is installed' }, async () => {
  const { stdout, status } = await probe(selectAndReport, { LCREC_TENSOR_BACKEND: 'tensorflow' });
  assert.equal(status, 0);
  assert.match(stdout, /^BadInputError: field 'LCREC_TENSOR_BACKEND': LCREC_TENSOR_BACKEND=tensorflow, but @tensorflow\/tfjs-node-gpu is not available .*; @tensorflow\/tfjs-node is not available/);
});

test('an unknown LCREC_TENSOR_BACKEND value is rejected with the allowed ones', async () => {
  const { stdout } = await probe(selectAndReport, { LCREC_TENSOR_BACKEND: 'gpu' });
  assert.match(stdout, /^BadInputError: field 'LCREC_TENSOR_BACKEND': 'gpu' is not a tensor backend; use one of auto, tensorflow, wasm, cpu/);
});

test('concurrent first calls share one selection and one log line; initTensorEngine leaves the engine ready', async () => {
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);
  const [a, b] = await Promise.all([selectBackend({ prefer: 'wasm', log }), selectBackend({ prefer: 'cpu', log })]);
  assert.equal(a, b);
  assert.equal(lines.length, 1);
  const info = await initTensorEngine();
  assert.equal(info, a);
  assert.equal(tf.getBackend(), info.name);
  const y = matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
  assert.deepEqual(Array.from(y.dataSync()), [11]);
});

test('describeBackend names each kind of backend', () => {
  assert.equal(describeBackend({ name: 'wasm', package: 'x', simd: true, threads: 1, gpu: false }), 'wasm (SIMD, 1 thread)');
  assert.equal(describeBackend({ name: 'wasm', package: 'x', simd: false, threads: 4, gpu: false }), 'wasm (no SIMD: slow, 4 threads)');
  assert.equal(describeBackend({ name: 'tensorflow', package: '@tensorflow/tfjs-node-gpu', simd: null, threads: null, gpu: true }), 'tensorflow (@tensorflow/tfjs-node-gpu, GPU)');
  assert.equal(describeBackend({ name: 'cpu', package: 'x', simd: null, threads: 1, gpu: false }), 'cpu (pure JS, slow)');
});
