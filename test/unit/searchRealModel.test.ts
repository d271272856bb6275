/**
 * The evaluation with the real pieces: the prompts stage's files, the Qwen3 tokenizer with the
 * semantic-ID tokens added, a small randomly initialised Qwen model saved in Hugging Face layout
 * and loaded back by the finetune stage's ModelLoader, its KV-cache decode sessions, and the search.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readEvaluationMetrics } from '../../src/eval/evaluationFiles.js';
import { lengthSortWindow } from '../../src/eval/generative.js';
import { shardRange } from '../../src/eval/shards.js';
import { loadFinetunedModel } from '../../src/finetune/finetunedModel.js';
import { DEFAULT_EVALUATE_SETTINGS } from '../../src/eval/settings.js';
import { runEvaluateMerge, runEvaluateShard } from '../../src/eval/stage.js';
import { saveQwen } from '../../src/llm/checkpoint.js';
import { randomQwen, scratchConfig } from '../../src/llm/random.js';
import { HfTokenizer } from '../../src/llm/tokenizer.js';
import { qwen3TokenizerDir, readTokenizerDir, tokenizerSize, writeTokenizerFiles } from '../../src/llm/tokenizerFiles.js';
import { addCodeTokens } from '../../src/llm/vocabCodes.js';
import { PROMPTS_PRESETS } from '../../src/prompts/settings.js';
import { runPromptsStage } from '../../src/prompts/stage.js';
import { DecodingTrie } from '../../src/search/decodingTrie.js';
import { readSemanticIds } from '../../src/semid/writeSemanticIds.js';
import { initTensorEngine } from '../../src/tensor/init.js';
import { writeFixtureDataset } from './searchFakes.js';

let root: string;
let dirs: Record<string, string>;

before(async () => {
  await initTensorEngine({ log: () => undefined });
  root = await mkdtemp(join(tmpdir(), 'lcrec-realmodel-'));
  const fixture = await writeFixtureDataset(root, 40);
  const prompts = join(root, 'prompts');
  await mkdir(prompts);
  await runPromptsStage(fixture.ingest, fixture.semid, prompts, PROMPTS_PRESETS['cpu-beauty'], 3);
  const ids = await readSemanticIds(fixture.semid);
  const files = addCodeTokens(await readTokenizerDir(qwen3TokenizerDir()), ids.vocabulary.tokens());
  const tokenizer = new HfTokenizer(files);
  const finetune = join(root, 'finetune');
  const config = scratchConfig({ hiddenSize: 16, intermediateSize: 32, layers: 1, heads: 2, kvHeads: 1 }, tokenizerSize(files.tokenizer), { eos: tokenizer.eosId, pad: tokenizer.padId });
  const model = randomQwen(config, 11);
  await saveQwen(model, finetune, { addFiles: (dir) => writeTokenizerFiles(dir, files) });
  model.dispose();
  dirs = { ...fixture, prompts, finetune };
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('the loader renders seqrec prompts as the tokenizer spells them and maps every code to its added token', async () => {
  const ids = await readSemanticIds(dirs.semid!);
  const model = await loadFinetunedModel({ dirs, semanticIds: ids });
  try {
    assert.ok(model.seqrecTemplates.length > 1);
    const tokenizer = await HfTokenizer.fromDir(dirs.finetune!);
    const prompt = model.renderPrompt(Int32Array.of(4, 2), model.seqrecTemplates[0]!);
    const text = tokenizer.decode(prompt);
    assert.ok(text.endsWith('### Response:'), text);
    assert.ok(text.indexOf(ids.tokens[4]!) < text.indexOf(ids.tokens[2]!), 'history items in order, as their ID tokens');
    assert.equal(tokenizer.decode([model.tokens.codeTokenId(1, 2)]), '<C1_2>');
    // Every code of the trie maps to a distinct token (DecodingTrie checks it).
    DecodingTrie.fromSemanticIds(ids.trie, model.tokens);
  } finally {
    model.dispose();
  }
});

test('the evaluate stage runs the real model end to end; 3 shards give the bytes of 1', async () => {
  const loader = loadFinetunedModel;
  const settings = { ...DEFAULT_EVALUATE_SETTINGS, beamWidth: 10, batchPrompts: 4, splits: ['valid' as const] };
  const shard = join(root, 'shard');
  const summary = await runEvaluateShard({ dirs }, shard, settings, 0, loader);
  const users = summary.users; // 40 users, less those dedupe leaves with fewer than 3 items
  assert.ok(users > 32 && summary.prompts === users);
  assert.ok(summary.modelSeconds > 0);
  const out = join(root, 'merged');
  await runEvaluateMerge(dirs.ingest!, [shard], out);
  const metrics = await readEvaluationMetrics(out);
  assert.equal(metrics.users, users);
  // The fixture has 12 items: beam 10 ranks 10 of them, so most valid targets are found.
  const valid = metrics.splits.valid!.mean;
  assert.ok(valid['recall@10'] > 0 && valid['recall@10'] <= 1);
  // 3 shards of the same evaluation (cut at length-sorting windows of 8 batches of 2) give byte-identical files.
  const three = { ...settings, shards: 3, batchPrompts: 2 };
  assert.deepEqual([0, 1, 2].map((s) => shardRange(users, s, 3, lengthSortWindow(2))), [{ from: 0, to: 16 }, { from: 16, to: 32 }, { from: 32, to: users }]);
  const one = { ...three, shards: 1 };
  const shardDirs = [0, 1, 2].map((s) => join(root, `three-${s}`));
  for (const [s, dir] of shardDirs.entries()) await runEvaluateShard({ dirs }, dir, three, s, loader);
  await runEvaluateShard({ dirs }, join(root, 'one-0'), one, 0, loader);
  await runEvaluateMerge(dirs.ingest!, shardDirs, join(root, 'three'));
  await runEvaluateMerge(dirs.ingest!, [join(root, 'one-0')], join(root, 'one'));
  for (const file of ['metrics.json', 'predictions.parquet', 'targets.parquet']) {
    assert.ok((await readFile(join(root, 'one', file))).equals(await readFile(join(root, 'three', file))), `${file} differs`);
  }
});
