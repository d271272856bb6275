/**
 * Measures the tokenizer on realistic prompts, by hand (not a test):
 *   node --import tsx tools/reference/tokenizer/measure.ts [dataset dir] [preset] [out dir]
 * Defaults: ../shared/datasets/amazon2014-beauty, paper, no output.
 *
 * Prompts are the prompts stage's own (src/prompts), every split, as pruningCorpus renders them
 * (src/llm/vocabCorpus.ts: each unit once, templates rotating, every template once). Titles are
 * the dataset's; the semantic IDs are stand-ins (4 levels x 256, a hash of the item id), since
 * item codes do not change which BPE tokens the text needs. Reports: the Qwen3 tokenizer's load
 * time, encode throughput (strings/s, tokens/s), the pruned vocabulary size and pruning time.
 * With an out dir, the extended and pruned tokenizers are saved there for the Python check.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SemanticVocabulary } from '../../../src/semid/vocabulary.js';
import { buildSamples } from '../../../src/prompts/samples.js';
import type { PromptContext } from '../../../src/prompts/render.js';
import { promptDescription, promptTitle } from '../../../src/prompts/promptText.js';
import { PROMPTS_PRESETS } from '../../../src/prompts/settings.js';
import { TEMPLATES } from '../../../src/prompts/templates.js';
import { fmix32 } from '../../../src/tensor/rng.js';
import { HfTokenizer } from '../../../src/llm/tokenizer.js';
import { qwen3TokenizerDir, readTokenizerDir, saveTokenizerDir } from '../../../src/llm/tokenizerFiles.js';
import { addCodeTokens, codeTokensFor } from '../../../src/llm/vocabCodes.js';
import { pruneVocabulary } from '../../../src/llm/vocabPrune.js';
import { pruningCorpus } from '../../../src/llm/vocabCorpus.js';

const datasetDir = process.argv[2] ?? '../shared/datasets/amazon2014-beauty';
const preset = (process.argv[3] ?? 'paper') as keyof typeof PROMPTS_PRESETS;
const outDir = process.argv[4];
const SEED = 42;

const rawItems = JSON.parse(readFileSync(join(datasetDir, 'Beauty.item.json'), 'utf8')) as Record<string, { title?: string; brand?: string; categories?: string }>;
const inter = JSON.parse(readFileSync(join(datasetDir, 'Beauty.inter.json'), 'utf8')) as Record<string, number[]>;
const itemCount = Object.keys(rawItems).length;
const vocab = new SemanticVocabulary([256, 256, 256, 256], false);
const codes = new Int32Array(itemCount * 4);
for (let i = 0; i < itemCount; i++) for (let l = 0; l < 4; l++) codes[i * 4 + l] = fmix32((i * 4 + l + 1) >>> 0) & 255;
const settings = PROMPTS_PRESETS[preset];
const items = {
  tokens: vocab.allItemTokens(codes),
  titles: Array.from({ length: itemCount }, (_, i) => promptTitle(rawItems[i]?.title ?? null)),
  descriptions: Array.from({ length: itemCount }, (_, i) =>
    promptDescription({ title: null, description: null, brand: rawItems[i]?.brand ?? null, categories: rawItems[i]?.categories ?? null }, settings.text.descriptionSource, settings.text.descriptionMaxWords),
  ),
};
const sequences = Object.keys(inter).map((u) => Int32Array.from(inter[u]!));
const sets = buildSamples({ sequences, items, settings, seed: SEED });
const ctx: PromptContext = { templates: TEMPLATES, items, history: settings.history };
const texts = pruningCorpus([...sets.train, ...sets.validLoss, ...sets.valid, ...sets.test], ctx);
const chars = texts.reduce((n, t) => n + t.length, 0);
console.log(`corpus (pruningCorpus): ${texts.length} texts (${sets.train.length} train units), ${(chars / texts.length).toFixed(0)} chars each on average, preset ${preset}`);

let t0 = performance.now();
const base = await readTokenizerDir(qwen3TokenizerDir());
const files = addCodeTokens(base, codeTokensFor(vocab, 'all'));
const full = new HfTokenizer(files);
console.log(`Qwen3 tokenizer + ${vocab.tokens().length} code tokens: size ${full.size}, loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s`);

const throughput = (tok: HfTokenizer, label: string) => {
  for (const pass of ['cold', 'warm']) {
    const t = performance.now();
    const cpu = process.cpuUsage();
    let tokens = 0;
    for (const text of texts) tokens += tok.encode(text).length;
    const s = (performance.now() - t) / 1000;
    const used = process.cpuUsage(cpu);
    const cpuS = (used.user + used.system) / 1e6;
    console.log(
      `${label} encode (${pass} memo): ${texts.length} strings in ${s.toFixed(2)} s wall, ${cpuS.toFixed(2)} s CPU = ` +
        `${Math.round(texts.length / cpuS)} strings/s, ${Math.round(tokens / cpuS)} tokens/s per CPU second; ${(tokens / texts.length).toFixed(1)} tokens/string`,
    );
  }
};
throughput(full, 'full');

t0 = performance.now();
const cpu0 = process.cpuUsage();
const pruned = pruneVocabulary(files, texts);
const pruneS = (performance.now() - t0) / 1000;
const pruneCpu = process.cpuUsage(cpu0);
const base256 = 256;
const added = files.tokenizer.added_tokens.length;
console.log(
  `pruned: kept ${pruned.keptOldIds.length} of ${full.size} ids (${pruned.keptOldIds.length - added} BPE tokens incl. ${base256} bytes, ${added} added tokens), ` +
    `${pruned.files.tokenizer.model.merges?.length} of ${files.tokenizer.model.merges?.length} merges; pruning + verification took ${pruneS.toFixed(1)} s wall, ${((pruneCpu.user + pruneCpu.system) / 1e6).toFixed(1)} s CPU`,
);
throughput(new HfTokenizer(pruned.files), 'pruned');

if (outDir) {
  await saveTokenizerDir(join(outDir, 'extended'), files);
  await saveTokenizerDir(join(outDir, 'pruned'), pruned.files);
  console.log(`saved ${outDir}/extended and ${outDir}/pruned`);
}
