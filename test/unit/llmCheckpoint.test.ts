import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadInputError } from '../../src/errors.js';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import type { BackendInfo } from '../../src/tensor/backend.js';
import { decodeSafetensors } from '../../src/tensor/safetensors.js';
import { loadQwen, saveQwen, weightBytes } from '../../src/llm/checkpoint.js';
import { parseQwenConfig } from '../../src/llm/config.js';
import { randomQwen, scratchConfig } from '../../src/llm/random.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/llm/', import.meta.url));
const WASM: BackendInfo = { name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', simd: true, threads: 1, gpu: false };
const CPU: BackendInfo = { name: 'cpu', package: '@tensorflow/tfjs-backend-cpu', simd: null, threads: 1, gpu: false };
let root: string;

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
  root = await mkdtemp(join(tmpdir(), 'lcrec-llm-checkpoint-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let counter = 0;
/** A copy of a fixture model directory we may break. */
async function copyOf(name: string): Promise<string> {
  const dir = join(root, `${name}-${counter++}`);
  await cp(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

async function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): Promise<void> {
  const path = join(dir, 'config.json');
  const config = JSON.parse(await readFile(path, 'utf8'));
  edit(config);
  await writeFile(path, JSON.stringify(config));
}

interface RawTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** A safetensors file with any dtypes, written by hand (our writer only writes F32/I32). */
async function writeRaw(path: string, tensors: Map<string, RawTensor>): Promise<void> {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  out.write(json, 8);
  let at = 8 + json.length;
  for (const t of tensors.values()) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  await writeFile(path, out);
}

/** The fixture's tensors as raw F32 entries, to edit before writing. */
async function rawTensors(dir: string): Promise<Map<string, RawTensor>> {
  const { tensors } = decodeSafetensors(await readFile(join(dir, 'model.safetensors')));
  return new Map(
    [...tensors].map(([name, t]) => [name, { dtype: 'F32', shape: t.shape, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) }]),
  );
}

async function rejectsBadInput(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof BadInputError, `a BadInputError, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  });
}

test('an unknown model_type is refused, naming the field and the file', async () => {
  const dir = await copyOf('qwen2-tiny');
  await editConfig(dir, (c) => (c['model_type'] = 'llama'));
  await rejectsBadInput(loadQwen(dir), /config\.json, field 'model_type': model_type 'llama' is not supported \(supported: qwen2, qwen3\)/);
});

test('rope scaling we do not implement is refused, not ignored', async () => {
  assert.throws(
    () => parseQwenConfig({ ...minimal(), rope_scaling: { rope_type: 'yarn', factor: 4 } }, 'x/config.json'),
    /x\/config\.json, field 'rope_scaling\.rope_type': rope type 'yarn' is not supported \(supported: default, linear\)/,
  );
  assert.throws(() => parseQwenConfig({ ...minimal(), rope_scaling: { type: 'linear' } }), /linear rope scaling needs a "factor"/);
  assert.throws(() => parseQwenConfig({ ...minimal(), hidden_size: 'big' }), /field 'hidden_size'/);
  // Both rope layouts read the same: transformers 4.x top-level theta + rope_scaling, 5.x rope_parameters.
  const old = parseQwenConfig({ ...minimal(), rope_theta: 5000, rope_scaling: { type: 'linear', factor: 2 } });
  const neu = parseQwenConfig({ ...minimal(), rope_parameters: { rope_type: 'linear', factor: 2, rope_theta: 5000 } });
  assert.deepEqual(old, neu);
  assert.equal(old.head_dim, 8);
  assert.deepEqual(old.rope_scaling, { type: 'linear', factor: 2 });
});

function minimal(): Record<string, unknown> {
  return { model_type: 'qwen3', vocab_size: 10, hidden_size: 32, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2 };
}

test('a missing weight is refused, naming the tensor and the file', async () => {
  const dir = await copyOf('qwen3-tiny');
  const tensors = await rawTensors(dir);
  tensors.delete('model.layers.1.self_attn.k_norm.weight');
  await writeRaw(join(dir, 'model.safetensors'), tensors);
  await rejectsBadInput(loadQwen(dir), /model\.safetensors: missing weights the config requires: model\.layers\.1\.self_attn\.k_norm\.weight/);
});

test('a tensor whose shape contradicts config.json is refused with both shapes', async () => {
  const dir = await copyOf('qwen2-tiny');
  await editConfig(dir, (c) => (c['intermediate_size'] = 80));
  await rejectsBadInput(loadQwen(dir), /model\.safetensors: tensor 'model\.layers\.0\.mlp\.gate_proj\.weight' has shape \[64,64\] but config\.json implies \[80,64\]/);
});

test('a dtype we cannot read is refused, naming the tensor, the dtype and the file', async () => {
  const dir = await copyOf('qwen2-tiny');
  const tensors = await rawTensors(dir);
  const norm = tensors.get('model.norm.weight')!;
  tensors.set('model.norm.weight', { dtype: 'F64', shape: norm.shape, bytes: new Uint8Array(Float64Array.from(new Float32Array(norm.bytes.slice().buffer)).buffer) });
  await writeRaw(join(dir, 'model.safetensors'), tensors);
  await rejectsBadInput(loadQwen(dir), /model\.safetensors: tensor 'model\.norm\.weight' has dtype F64, which lcrec cannot load/);

  tensors.set('model.norm.weight', { dtype: 'I32', shape: norm.shape, bytes: new Uint8Array(norm.bytes.length) });
  await writeRaw(join(dir, 'model.safetensors'), tensors);
  await rejectsBadInput(loadQwen(dir), /tensor 'model\.norm\.weight' holds int32 values; weights must be floating point/);
});

test('a tensor the architecture has no place for is refused (a wrong architecture must not load silently)', async () => {
  const dir = await copyOf('qwen3-tiny');
  const tensors = await rawTensors(dir);
  tensors.set('model.layers.0.mlp.down_proj.bias', { dtype: 'F32', shape: [64], bytes: new Uint8Array(256) });
  await writeRaw(join(dir, 'model.safetensors'), tensors);
  await rejectsBadInput(loadQwen(dir), /has no place for: model\.layers\.0\.mlp\.down_proj\.bias/);
});

test('a model too large for the backend is refused before any weight is read, naming the backend', async () => {
  const dir = await copyOf('qwen3-tiny');
  // Qwen3-8B-sized config over the tiny weights: only the config is read before the check.
  await editConfig(dir, (c) => Object.assign(c, { hidden_size: 4096, intermediate_size: 12288, num_hidden_layers: 36, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 128, vocab_size: 151936 }));
  const before = tf.memory().numTensors;
  await rejectsBadInput(loadQwen(dir, { backend: WASM, totalMemBytes: 64 * 1024 ** 3 }), /needs ~\d+ GiB .* but the wasm backend holds at most 4 GiB/);
  await rejectsBadInput(loadQwen(dir, { backend: CPU, totalMemBytes: 8 * 1024 ** 3 }), /this machine has 8\.0 GiB of memory \(cpu backend\)/);
  assert.equal(tf.memory().numTensors, before);
});

test('bf16 and f16 checkpoints load widened to float32', async () => {
  const dir = await copyOf('qwen2-tiny');
  const tensors = await rawTensors(dir);
  const expected = new Map<string, Float32Array>();
  for (const [i, [name, t]] of [...tensors].entries()) {
    const f32 = new Float32Array(t.bytes.slice().buffer);
    const bits = new Uint32Array(f32.buffer);
    if (i % 2 === 0) {
      // bf16: the high half of the float32 bits (truncation), widened back exactly.
      const half = Uint16Array.from(bits, (b) => b >>> 16);
      tensors.set(name, { dtype: 'BF16', shape: t.shape, bytes: new Uint8Array(half.buffer) });
      expected.set(name, new Float32Array(Uint32Array.from(half, (h) => h << 16).buffer));
    } else {
      // f16 of values exactly representable in half precision: k / 1024 in [-2, 2).
      const values = Float32Array.from(f32, (v) => Math.max(-2048, Math.min(2047, Math.round(v * 1024))) / 1024);
      const half = Uint16Array.from(values, toHalf);
      tensors.set(name, { dtype: 'F16', shape: t.shape, bytes: new Uint8Array(half.buffer) });
      expected.set(name, values);
    }
  }
  await writeRaw(join(dir, 'model.safetensors'), tensors);
  const model = await loadQwen(dir);
  for (const [name, want] of expected) assert.deepEqual(Float32Array.from(model.weights.get(name)!.dataSync()), want, name);
  model.dispose();
});

/** float -> IEEE half bits, for values k/1024 with |k| < 2048 (normal numbers and zero only). */
function toHalf(v: number): number {
  if (v === 0) return Object.is(v, -0) ? 0x8000 : 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const exponent = Math.floor(Math.log2(a));
  const mantissa = Math.round((a / 2 ** exponent - 1) * 1024);
  return sign | ((exponent + 15) << 10) | mantissa;
}

test('save then load gives the same weights, config and logits; shards with an index; tied head saved once', async () => {
  const config = scratchConfig({ hiddenSize: 32, intermediateSize: 40, layers: 2, heads: 4, kvHeads: 2, headDim: 12 }, 64, { eos: 3 });
  const model = randomQwen(config, 5);
  const dir = join(root, 'saved');
  await saveQwen(model, dir, {
    maxShardBytes: 20_000,
    addFiles: async (d) => writeFile(join(d, 'tokenizer_config.json'), '{}'),
  });
  const files = (await readdir(dir)).sort();
  assert.ok(files.includes('model.safetensors.index.json') && files.includes('tokenizer_config.json') && files.includes('generation_config.json'), files.join(', '));
  assert.ok(!files.includes('model.safetensors'));
  assert.deepEqual((await readdir(root)).filter((f) => f.includes('.tmp-')), [], 'no temporary directory left');
  const index = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8'));
  assert.ok(!('lm_head.weight' in index.weight_map), 'a tied head is not saved twice');
  assert.equal(JSON.parse(await readFile(join(dir, 'generation_config.json'), 'utf8')).eos_token_id, 3);

  const loaded = await loadQwen(dir);
  assert.deepEqual(loaded.config, model.config);
  for (const [name, w] of model.weights) assert.deepEqual(loaded.weights.get(name)!.dataSync(), w.dataSync(), name);
  const ids = Int32Array.of(1, 5, 9, 63);
  const a = tf.tidy(() => model.headLogits(model.hidden(ids, 1, 4)).dataSync());
  const b = tf.tidy(() => loaded.headLogits(loaded.hidden(ids, 1, 4)).dataSync());
  assert.deepEqual(b, a);
  await assert.rejects(saveQwen(model, dir), /already exists/);
  await saveQwen(model, dir, { overwrite: true });
  assert.ok((await readdir(dir)).includes('model.safetensors'), 'one file when no shard size is given');
  model.dispose();
  loaded.dispose();
});

test('the memory estimate counts every weight as float32', () => {
  const tied = scratchConfig({ hiddenSize: 16, intermediateSize: 32, layers: 1, heads: 2, kvHeads: 1 }, 100);
  // embed 100x16 + norms 3x16 + q 16x16 + k,v 8x16 each + o 16x16 + mlp 3x16x32 + q/k norm 8 each
  const params = 1600 + 48 + 256 + 256 + 256 + 1536 + 16;
  assert.equal(weightBytes(tied), 4 * params);
  assert.equal(weightBytes({ ...tied, tie_word_embeddings: false }), 4 * (params + 1600));
});

test('a shard named by the index but missing is refused, naming the tensor', async () => {
  const model = randomQwen(scratchConfig({ hiddenSize: 16, intermediateSize: 16, layers: 2, heads: 2, kvHeads: 1 }, 40), 3);
  const dir = join(root, 'missing-shard');
  await saveQwen(model, dir, { maxShardBytes: 4000 });
  model.dispose();
  const index = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8'));
  const shard = index.weight_map['model.norm.weight'];
  await rm(join(dir, shard));
  await rejectsBadInput(loadQwen(dir), /model\.safetensors\.index\.json: tensor '.*': its shard file is missing/);
});

test('partial rotary and sliding-window layers are refused, not computed wrongly', () => {
  assert.throws(() => parseQwenConfig({ ...minimal(), rope_parameters: { rope_type: 'default', rope_theta: 1e4, partial_rotary_factor: 0.5 } }), /partial_rotary_factor 0\.5 is not supported/);
  assert.throws(() => parseQwenConfig({ ...minimal(), layer_types: ['sliding_attention'] }), /field 'layer_types': layer 0 is 'sliding_attention'/);
  assert.throws(() => parseQwenConfig({ ...minimal(), use_sliding_window: true }), /field 'use_sliding_window'/);
});
