import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LocalCheckpointDir } from '../../src/finetune/checkpoints.js';
import type { CheckpointStore, FinetuneState } from '../../src/finetune/checkpoints.js';
import { linearAccessFor } from '../../src/finetune/lora.js';
import { FinetuneSettingsSchema } from '../../src/finetune/settings.js';
import type { FinetuneSettings } from '../../src/finetune/settings.js';
import { finetune } from '../../src/finetune/trainer.js';
import type { FinetuneData } from '../../src/finetune/trainer.js';
import { selectBackend } from '../../src/tensor/backend.js';
import { deriveSeed } from '../../src/tensor/rng.js';
import { FakeCausalLM } from './finetuneFakeModel.js';

let dir: string;
before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
  dir = await mkdtemp(join(tmpdir(), 'lcrec-finetune-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const VOCAB = 48;
const EOS = 0;
/** The new (semantic-ID-like) tokens: responses are made of them. */
const NEW_TOKENS = Int32Array.from({ length: 10 }, (_, i) => 30 + i);

/**
 * Unit u: item b = 10 + u % 10; its "ID" token is 30 + (b - 10). One of three templates (a
 * prefix token 1..3) drawn per unit and epoch, as the prompts stage's drawTemplate does.
 */
function data(units: number, seed: number): FinetuneData {
  const render = (u: number, epoch: number) => {
    const template = 1 + (deriveSeed(seed, `template/${epoch}/${u}`) % 3);
    const b = 10 + (u % 10);
    const filler = Array.from({ length: u % 4 }, (_, i) => 4 + ((u + i) % 5)); // varying lengths
    return { promptIds: Int32Array.from([template, ...filler, b]), responseIds: Int32Array.from([30 + (b - 10)]) };
  };
  return { units, render, eosId: EOS, padId: EOS, validation: { count: 20, render: (i) => render(i + 1000, 0) } };
}

const settings = (over: Record<string, unknown> = {}): FinetuneSettings =>
  FinetuneSettingsSchema.parse({
    learningRate: 0.05,
    epochs: 3,
    batchSize: 8,
    gradAccumulation: 2,
    warmupRatio: 0.1,
    maxLength: 16,
    bucketWindow: 4,
    checkpointEvery: 3,
    validation: { lossSamples: 0, recallUsers: 0, batchSize: 16 },
    ...over,
  });

function weightsOf(model: FakeCausalLM): Map<string, Float32Array> {
  return new Map([...model.weights].map(([name, v]) => [name, (v.dataSync() as Float32Array).slice()]));
}

test('full fine-tuning learns the task; the log has a row per step and a validation per epoch', async () => {
  const model = new FakeCausalLM(VOCAB, 16, 11);
  const s = settings({ epochs: 4 });
  const result = await finetune(model, data(64, 1), s, { seed: 5 });
  const { log } = result;
  assert.equal(log.stepsPerEpoch, Math.ceil(Math.ceil(64 / 8) / 2));
  assert.equal(log.steps.length, log.totalSteps);
  assert.deepEqual(log.steps.map((r) => r.step), Array.from({ length: log.totalSteps }, (_, i) => i + 1));
  assert.equal(log.steps[0]!.lr, 0, 'warm-up starts at 0');
  assert.equal(log.validation.length, 4);
  assert.equal(log.selectBy, 'loss');
  const first = log.validation[0]!.loss!;
  const last = Math.min(...log.validation.map((v) => v.loss!));
  // Uniform guessing over 48 tokens costs ln 48 = 3.87 nats per token; the task is learnable.
  assert.ok(last < 0.5 * first && last < 1.0, `validation loss ${first} -> ${last}`);
  const bestLoss = log.validation.find((v) => v.epoch === log.bestEpoch)!.loss!;
  assert.equal(bestLoss, last, 'the kept epoch is the one with the lowest validation loss');
  model.dispose();
});

/** A store that keeps checkpoints in a directory and kills the run after `stopAfter` saves. */
function crashingStore(root: string, stopAfter: number, controller: AbortController): CheckpointStore {
  const inner = new LocalCheckpointDir(root, 2);
  let saves = 0;
  return {
    save: async (state: FinetuneState) => {
      const ref = await inner.save(state);
      if (++saves === stopAfter) controller.abort(new Error('worker killed'));
      return ref;
    },
    loadNewest: () => inner.loadNewest(),
  };
}

for (const mode of ['full', 'lora'] as const) {
  test(`${mode}: a run killed after a checkpoint and resumed by a new trainer ends with weights bit-for-bit equal to an uninterrupted run`, async () => {
    const lora = mode === 'lora' ? { enabled: true, rank: 4, alpha: 8, dropout: 0.1, targets: ['up_proj', 'down_proj'] } : undefined;
    const s = settings(lora ? { lora, learningRate: 0.02 } : {});
    const make = () => new FakeCausalLM(VOCAB, 16, 21, mode === 'full');
    const opts = (extra: object) => ({ seed: 9, newTokenIds: NEW_TOKENS, ...extra });
    const access = (m: FakeCausalLM) => (lora ? { linearAccess: linearAccessFor(m) } : {});

    const straight = make();
    const reference = await finetune(straight, data(50, 2), s, opts({ ...access(straight), checkpoints: new LocalCheckpointDir(join(dir, `${mode}-straight`)) }));
    const expected = weightsOf(straight);

    const root = join(dir, `${mode}-crash`);
    const controller = new AbortController();
    const first = make();
    await assert.rejects(finetune(first, data(50, 2), s, opts({ ...access(first), checkpoints: crashingStore(root, 2, controller), signal: controller.signal })), /worker killed/);
    const stepDirs = (await readdir(root)).filter((n) => n.startsWith('step-'));
    assert.deepEqual(stepDirs, ['step-00000003', 'step-00000006']);

    const resumed = make(); // a fresh process: base model from the same seed, state from the checkpoint
    const result = await finetune(resumed, data(50, 2), s, opts({ ...access(resumed), checkpoints: new LocalCheckpointDir(root) }));
    assert.equal(result.log.resumedFromStep, 6);
    assert.deepEqual(result.log.steps, reference.log.steps, 'same losses, learning rates and norms at every step');
    assert.deepEqual(result.log.validation, reference.log.validation);
    for (const [name, values] of weightsOf(resumed)) assert.deepEqual(values, expected.get(name), `weight ${name}`);
    if (reference.lora && result.lora) {
      const a = reference.lora.peftTensors();
      const b = result.lora.peftTensors();
      for (const [name, t] of a) assert.deepEqual(b.get(name)!.data, t.data, name);
    }
    for (const m of [straight, first, resumed]) m.dispose();
    reference.lora?.dispose();
    result.lora?.dispose();
  });
}

test('a checkpoint of other settings refuses to resume', async () => {
  const root = join(dir, 'mismatch');
  const model = new FakeCausalLM(VOCAB, 16, 3);
  await finetune(model, data(16, 4), settings({ epochs: 1 }), { seed: 1, checkpoints: new LocalCheckpointDir(root) });
  await assert.rejects(finetune(model, data(16, 4), settings({ epochs: 2 }), { seed: 1, checkpoints: new LocalCheckpointDir(root) }), /another configuration/);
  model.dispose();
});

test('unitsPerEpoch trains a fresh seeded subset of the units each epoch', async () => {
  const model = new FakeCausalLM(VOCAB, 16, 5);
  const base = data(64, 3);
  const seen: Array<Set<number>> = [];
  const spy: FinetuneData = {
    ...base,
    render: (u, epoch) => {
      (seen[epoch] ??= new Set()).add(u);
      return base.render(u, epoch);
    },
  };
  const result = await finetune(model, spy, settings({ unitsPerEpoch: 16, epochs: 2 }), { seed: 1 });
  assert.equal(result.log.stepsPerEpoch, 1); // 16 units / 8 per micro-batch / 2 micro-batches per step
  assert.deepEqual(seen.map((s) => s.size), [16, 16]);
  assert.ok([...seen[1]!].some((u) => !seen[0]!.has(u)), 'the second epoch draws other units');
  model.dispose();
});

test('a job the backend cannot hold is refused before the first step, naming the job', async () => {
  const model = new FakeCausalLM(VOCAB, 16, 5);
  await assert.rejects(finetune(model, data(8, 1), settings({ batchSize: 4096, maxLength: 32_768 }), { seed: 1 }), (e: unknown) => e instanceof Error && e.name === 'BadInputError' && /fine-tuning needs/.test(e.message));
  model.dispose();
});
