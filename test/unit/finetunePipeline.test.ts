/**
 * The fine-tuning stage's glue on real upstream files: a hand-made dataset and semantic IDs, the
 * prompts stage's output, the scratch base model (Qwen3 tokenizer + code tokens, pruned), the
 * trainer with per-epoch Recall@10 through the constrained beam search, and the stage's files.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { itemsTable, sequencesTable } from '../../src/data/datasetTables.js';
import type { ItemText } from '../../src/data/itemText.js';
import type { SequenceSet } from '../../src/data/sequences.js';
import { readSequenceData } from '../../src/data/datasetReader.js';
import { prepareBaseModel } from '../../src/finetune/baseModel.js';
import { loadFinetunedModel } from '../../src/finetune/finetunedModel.js';
import { promptCorpus, promptTrainingData, readPromptUnits, seqrecPromptRenderer } from '../../src/finetune/promptData.js';
import { FinetuneSettingsSchema } from '../../src/finetune/settings.js';
import { runFinetuneStage } from '../../src/finetune/stage.js';
import type { TrainingLog } from '../../src/finetune/trainingLog.js';
import { recallAt10Hook } from '../../src/finetune/validationRecall.js';
import { PROMPTS_PRESETS, type PromptsSettings } from '../../src/prompts/settings.js';
import { runPromptsStage } from '../../src/prompts/stage.js';
import { assignSemanticIds } from '../../src/semid/assign.js';
import { codeToken } from '../../src/semid/vocabulary.js';
import { readSemanticIds, writeSemanticIds } from '../../src/semid/writeSemanticIds.js';
import { writeParquet } from '../../src/tables/parquet.js';
import { selectBackend } from '../../src/tensor/backend.js';

let root: string;
before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
  root = await mkdtemp(path.join(os.tmpdir(), 'lcrec-ft-pipeline-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const TEXT: Pick<ItemText, 'title' | 'description' | 'brand' | 'categories'>[] = [
  { title: 'Red Lipstick.', description: 'A bright red lipstick.', brand: 'Acme', categories: 'Beauty,Makeup,Lips' },
  { title: 'Nail Polish.', description: 'Glossy polish.', brand: 'OPI', categories: 'Beauty,Makeup,Nails' },
  { title: 'Soft Brush.', description: 'Soft brush.', brand: 'Lash', categories: 'Beauty,Tools' },
  { title: 'Face Cream.', description: 'Moisturising cream.', brand: 'Acme', categories: 'Beauty,Skin Care' },
  { title: 'Shampoo.', description: 'Mild shampoo.', brand: 'Wash', categories: 'Beauty,Hair' },
  { title: 'Eye Liner.', description: 'Black liner.', brand: 'Lash', categories: 'Beauty,Makeup,Eyes' },
];
// Users walk the items in a cycle: the next item is predictable from the last one.
const SEQUENCES = Array.from({ length: 12 }, (_, u) => Int32Array.from({ length: 5 + (u % 3) }, (_, t) => (u + t) % 6));

async function writeInputs(data: string, semid: string): Promise<void> {
  await mkdir(data, { recursive: true });
  const set: SequenceSet = {
    userSource: Int32Array.from(SEQUENCES, (_, u) => u),
    itemSource: Int32Array.from(TEXT, (_, i) => i),
    sequences: SEQUENCES,
    timestamps: undefined,
    dropped: { duplicates: 0, missingMetadata: 0, kCore: 0, shortSequences: 0 },
    kCoreRounds: 0,
  };
  await writeParquet(path.join(data, 'items.parquet'), itemsTable(set, TEXT.map((_, i) => `i${i}`), (i) => ({ asin: null, price: null, ...TEXT[i]! })));
  await writeParquet(path.join(data, 'sequences.parquet'), sequencesTable(set, SEQUENCES.map((_, u) => `u${u}`)));
  await mkdir(semid, { recursive: true });
  const codes = Int32Array.from({ length: TEXT.length * 2 }, (_, k) => (k % 2 === 0 ? (k / 2) % 4 : Math.floor(k / 8)));
  await writeSemanticIds(semid, assignSemanticIds({ codes, codebookSizes: [4, 4], costs: () => { throw new Error('no collisions expected'); } }));
}

const PROMPTS: PromptsSettings = { ...structuredClone(PROMPTS_PRESETS.tiny), tasks: ['seqrec', 'item2index', 'index2item'], history: { maxItems: 5, separator: ', ', numbered: false } };

test('prompts -> scratch base -> fine-tuning with per-epoch Recall@10 -> model files and training log', async () => {
  const [data, semid, prompts, out] = ['data', 'semid', 'prompts', 'out'].map((d) => path.join(root, d)) as [string, string, string, string];
  await writeInputs(data, semid);
  await runPromptsStage(data, semid, prompts, PROMPTS, 7);

  const units = await readPromptUnits(prompts);
  const ids = await readSemanticIds(semid);
  const settings = FinetuneSettingsSchema.parse({
    base: { kind: 'scratch', model: { hiddenSize: 32, intermediateSize: 64, layers: 1, heads: 2, kvHeads: 1 } },
    learningRate: 5e-3, epochs: 2, batchSize: 8, gradAccumulation: 1, maxLength: 96, checkpointEvery: 1000,
    validation: { lossSamples: 0, recallUsers: 12, batchSize: 16 },
  });
  const base = await prepareBaseModel(settings.base, ids.vocabulary, 7, () => promptCorpus(units));
  const trainData = promptTrainingData(units, base.tokenizer, settings.maxLength, 7);

  // Templates vary by epoch: some unit renders differently in epoch 0 and epoch 1; the response never changes.
  const differs = Array.from({ length: trainData.units }, (_, u) => [trainData.render(u, 0), trainData.render(u, 1)] as const);
  assert.ok(differs.some(([a, b]) => a.promptIds.join() !== b.promptIds.join()));
  assert.ok(differs.every(([a, b]) => a.responseIds.join() === b.responseIds.join()));
  // A seqrec response is the item's code tokens, each one id of the extended tokenizer.
  const seqrec = units.train.findIndex((unit) => unit.task === 'seqrec');
  const target = units.train[seqrec]!.target;
  assert.deepEqual(Array.from(trainData.render(seqrec, 0).responseIds), Array.from(ids.codes.subarray(target * 2, target * 2 + 2), (c, l) => base.tokenizer.tokenToId(codeToken(l, c))));

  const recall = recallAt10Hook({
    model: base.model,
    trie: ids.trie,
    tokens: { eosId: base.tokenizer.eosId, codeTokenId: (l, c) => base.tokenizer.tokenToId(codeToken(l, c))! },
    sequences: (await readSequenceData(data)).sequences,
    renderPrompt: seqrecPromptRenderer(units.context, base.tokenizer),
    template: units.evalTemplate,
    maxHistory: units.maxHistory,
    seed: 7,
  });
  const summary = await runFinetuneStage(base.model, trainData, settings, out, { seed: 7, recallAt10: recall, saveModel: base.saveModel, baseModel: base.name, newTokenIds: base.codeTokenIds });
  const files = (await readdir(out)).sort();
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'training_log.json']) assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
  const log = JSON.parse(await readFile(path.join(out, 'training_log.json'), 'utf8')) as TrainingLog;
  assert.equal(log.selectBy, 'recall');
  assert.equal(log.validation.length, 2);
  // Only 6 items exist: Recall@10 with 10 beams over 6 valid IDs is 1 for every user (a sanity bound, not a quality claim).
  for (const v of log.validation) assert.equal(v.recallAt10, 1);
  assert.equal(summary.bestEpoch, 1, 'ties keep the earlier epoch');

  // The evaluation's loader reads the stage's output back: the kept weights, the code tokens, the prompts.
  const loaded = await loadFinetunedModel({ dirs: { finetune: out, prompts }, semanticIds: ids });
  const prompt = loaded.renderPrompt(SEQUENCES[0]!.subarray(0, 3), units.evalTemplate);
  assert.deepEqual(Array.from(prompt), Array.from(seqrecPromptRenderer(units.context, base.tokenizer)(SEQUENCES[0]!.subarray(0, 3), units.evalTemplate)));
  assert.equal(loaded.tokens.codeTokenId(1, 2), base.tokenizer.tokenToId('<C1_2>'));
  const session = await loaded.sessions.start([prompt]);
  const [fromLoaded] = await session.nextLogits([Int32Array.from(base.codeTokenIds.subarray(0, 4))]);
  session.dispose();
  const again = await base.model.sessions.start([prompt]);
  const [fromTrained] = await again.nextLogits([Int32Array.from(base.codeTokenIds.subarray(0, 4))]);
  again.dispose();
  assert.deepEqual(fromLoaded, fromTrained);
  loaded.dispose();
  base.model.dispose();
});
