import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BadInputError } from '../../src/errors.js';
import { FINETUNE_PRESETS, FinetuneSettingsSchema, parseFinetuneSettings } from '../../src/finetune/settings.js';

test('defaults: AdamW weight decay 0.01, clip 1.0, full fine-tuning; LoRA targets every projection when enabled', () => {
  const s = FinetuneSettingsSchema.parse({});
  assert.equal(s.weightDecay, 0.01);
  assert.equal(s.clipNorm, 1.0);
  assert.equal(s.lora.enabled, false);
  assert.deepEqual(s.lora.targets, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
});

test('paper preset: genrec\'s lr 2e-5, 4 epochs, effective batch 64, max length 512, a pretrained base', () => {
  const p = FINETUNE_PRESETS.paper;
  assert.equal(p.learningRate, 2e-5);
  assert.equal(p.epochs, 4);
  assert.equal(p.batchSize * p.gradAccumulation, 64);
  assert.equal(p.maxLength, 512);
  assert.equal(p.warmupRatio, 0.01);
  assert.equal(p.base.kind, 'pretrained');
  for (const preset of Object.values(FINETUNE_PRESETS)) assert.deepEqual(FinetuneSettingsSchema.parse(preset), preset);
});

test('bad settings name the field', () => {
  assert.throws(() => parseFinetuneSettings({ lora: { rank: 0 } }), (e: unknown) => e instanceof BadInputError && /finetune\.lora\.rank/.test(e.message));
  assert.throws(() => parseFinetuneSettings({ base: { kind: 'remote' } }), (e: unknown) => e instanceof BadInputError && /finetune\.base/.test(e.message));
});
