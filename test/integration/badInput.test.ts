/**
 * Bad input at every stage, one table: each case writes one malformed input in its upstream
 * format (raw Amazon dumps, RecBole and LC-Rec files, embedding files, Hugging Face model and
 * tokenizer directories, config files) and runs the stage through the worker's own activities.
 * Every case must fail with a non-retryable BadInputError whose message names the file, line or
 * field, and leave the artifact store exactly as it was: no new manifest, no stray files.
 *
 * Later stages read real upstream artifacts, built once from the bundled sample with quick
 * settings in `before`. Two tests after the table: control characters in item text are not an
 * error but dropped (src/data/textClean.ts), and every layout of the sample ingests when left
 * uncorrupted, so each case's only fault is the one it injects.
 */
import assert from 'node:assert/strict';
import { access, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { normalizeConfig } from '../../cli/runCommand.js';
import { resolveConfig, validateConfig } from '../../src/config/load.js';
import type { PipelineConfig } from '../../src/config/schema.js';
import { encodeNpy } from '../../src/embed/npy.js';
import { BadInputError } from '../../src/errors.js';
import { saveQwen } from '../../src/llm/checkpoint.js';
import { randomQwen, scratchConfig } from '../../src/llm/random.js';
import { HfTokenizer } from '../../src/llm/tokenizer.js';
import { LCREC_RECORD_FILE, qwen3TokenizerDir, readTokenizerDir, writeTokenizerFiles } from '../../src/llm/tokenizerFiles.js';
import type { StageName, StageOutput } from '../../src/pipeline/contracts.js';
import { readParquet } from '../../src/tables/parquet.js';
import { writeSafetensors } from '../../src/tensor/safetensors.js';
import { initTensorEngine } from '../../src/tensor/init.js';
import { amazon2014Files, amazon2018Files, amazon2023Files, lcrecFiles, recboleFiles, sampleSource, writeDataset, type SampleSource } from '../helpers/sampleFormats.js';
import { createStageHarness, type StageHarness } from '../helpers/stageHarness.js';

/** Small enough that the whole chain runs in seconds; the quality of the result is not the subject. */
const QUICK = [
  'rqvae.epochs=20',
  'rqvae.warmupEpochs=2',
  'rqvae.evalEvery=10',
  'finetune.epochs=1',
  'finetune.unitsPerEpoch=64',
  'finetune.validation.lossSamples=8',
  'finetune.validation.recallUsers=0',
  'evaluate.splits=[test]',
];
/** A tokenizer that carries <C{level}_{code}> tokens of an earlier run. */
const FIXTURE_TOKENIZER = fileURLToPath(new URL('../fixtures/tokenizer/pruned/', import.meta.url));

let h: StageHarness;
let config: PipelineConfig;
let sample: SampleSource;
let up: Record<'ingest' | 'embed' | 'rqvae' | 'semid' | 'prompts' | 'finetune', StageOutput>;
/** A saved tiny Qwen (weights, config, tokenizer without code tokens): what a user downloads. */
let hfModel: string;

/** The config with `change` applied; it passes the schema, as every config `lcrec run` sends does. */
function variant(change: (c: PipelineConfig) => void): PipelineConfig {
  const c = structuredClone(config);
  change(c);
  return validateConfig(c);
}

/** The config with `change` applied and not validated: what a client that skips the CLI could send. */
function unvalidated(change: (c: PipelineConfig) => void): PipelineConfig {
  const c = structuredClone(config);
  change(c);
  return c;
}

// Each stage as the workflow runs it: plan (where bad settings may already be refused), then run.
const ingestStage = async (c: PipelineConfig) => h.run(h.acts.ingest, await h.run(h.acts.planIngest, c));
const embedStage = async (c: PipelineConfig) => h.run(h.acts.embed, await h.run(h.acts.planEmbed, c, up.ingest));
const finetuneStage = async (c: PipelineConfig) => h.run(h.acts.finetune, await h.run(h.acts.planFinetune, c, up.ingest, up.semid, up.prompts));
async function evaluateStage(c: PipelineConfig, finetune = up.finetune): Promise<StageOutput> {
  const plan = await h.run(h.acts.planEvaluate, c.evaluate, { ingest: up.ingest, semid: up.semid, prompts: up.prompts, finetune });
  const shard = await h.run(h.acts.evaluateShard, await h.run(h.acts.planEvaluateShard, plan, 0));
  return h.run(h.acts.mergeEvaluation, plan, [shard]);
}

/** The config reading a dataset directory that holds `files` (see writeDataset) in `format`. */
async function source(dir: string, files: Record<string, string[] | Buffer>, format: PipelineConfig['dataset']['format'] = 'amazon2014'): Promise<PipelineConfig> {
  const path = await writeDataset(join(dir, 'data'), files);
  return variant((c) => {
    c.dataset.source = path;
    c.dataset.format = format;
  });
}

/** `lines` with line `lineNumber` (1-based) replaced. */
function replaceLine(lines: string[], lineNumber: number, line: string): string[] {
  return lines.map((l, i) => (i === lineNumber - 1 ? line : l));
}

function editJsonLine(lines: string[], lineNumber: number, edit: (record: Record<string, unknown>) => void): string[] {
  const record = JSON.parse(lines[lineNumber - 1]!) as Record<string, unknown>;
  edit(record);
  return replaceLine(lines, lineNumber, JSON.stringify(record));
}

/** Item embeddings of `rows` x `dim`, seeded values in [-1, 1). */
function embeddings(rows: number, dim: number): Float32Array {
  let state = 12345;
  return Float32Array.from({ length: rows * dim }, () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 30) - 1);
}

const items = () => Number(up.ingest.summary.items);

/** The config with the file encoder reading `path` (and the other file settings given). */
const fileEncoder = (path: string, more: Partial<PipelineConfig['embed']['file']> = {}) =>
  variant((c) => {
    c.embed.encoder = 'file';
    c.embed.file = { ...c.embed.file, path, ...more };
  });

/** A copy of the tiny downloaded model in `dir`, without its weights. */
async function modelWithoutWeights(dir: string): Promise<string> {
  await cp(hfModel, dir, { recursive: true });
  await rm(join(dir, 'model.safetensors'));
  return dir;
}

const pretrainedBase = (path: string) => variant((c) => (c.finetune.base = { kind: 'pretrained', path, newRowInit: 'mean' }));

interface BadInputCase {
  name: string;
  /** The stage that must refuse the input; `config` is the CLI's validation before any stage. */
  stage: StageName | 'config';
  /**
   * Writes the malformed input under `dir` (a fresh temp dir) and runs the stage on it. A case
   * that first publishes an upstream artifact of its own calls `upstreamReady` after it: the
   * store is compared with its state at that point.
   */
  attempt: (dir: string, upstreamReady: () => Promise<void>) => Promise<unknown>;
  /** The message, naming the file and line or the field. */
  error: RegExp;
  /** Anything else that must hold after the failure. */
  check?: (dir: string) => Promise<void>;
}

const CASES: BadInputCase[] = [
  // --- configuration, as `lcrec run` validates it ------------------------------------------
  {
    name: 'a codebook of one code',
    stage: 'config',
    attempt: () => resolveConfig({ preset: 'tiny', sets: ['rqvae.codebookSize=1'] }),
    error: /field 'rqvae\.codebookSize'.*\n\s+rqvae\.codebookSize: Too small: expected number to be >=2/,
  },
  {
    name: 'a beam narrower than the 10 items the metrics rank',
    stage: 'config',
    attempt: () => resolveConfig({ preset: 'tiny', sets: ['evaluate.beamWidth=5'] }),
    error: /field 'evaluate\.beamWidth'.*\n\s+evaluate\.beamWidth: Too small: expected number to be >=10/,
  },
  {
    name: 'SASRec hidden size not divisible by its heads',
    stage: 'config',
    attempt: () => resolveConfig({ preset: 'tiny', sets: ['baselines.sasrec.hidden=50', 'baselines.sasrec.heads=3'] }),
    error: /field 'baselines\.sasrec\.heads'.*\n\s+baselines\.sasrec\.heads: the hidden size 50 is not divisible by 3 heads/,
  },
  {
    name: 'a config file that is not valid YAML',
    stage: 'config',
    attempt: async (dir) => {
      const file = join(dir, 'run.yaml');
      await writeFile(file, 'rqvae:\n  levels: 3\n codebookSize: 64\n');
      return resolveConfig({ preset: 'tiny', files: [file] });
    },
    error: /run\.yaml: not valid YAML\/JSON: .*at line 3/s,
  },

  // --- ingest: raw Amazon 2014 (JSON reviews, Python-literal metadata) ----------------------
  {
    name: 'a truncated gzip of reviews',
    stage: 'ingest',
    attempt: async (dir) => {
      const whole = gzipSync(Buffer.from(`${sample.reviewLines.join('\n')}\n`));
      return ingestStage(await source(dir, { 'reviews_Beauty_5.json.gz': whole.subarray(0, whole.length >> 1), 'meta_Beauty.json.gz': sample.metaLines }));
    },
    error: /reviews_Beauty_5\.json\.gz: truncated or corrupt gzip after line \d+/,
  },
  {
    name: 'a review line that is broken JSON',
    stage: 'ingest',
    attempt: async (dir) => ingestStage(await source(dir, amazon2014Files(sample, replaceLine(sample.reviewLines, 7, sample.reviewLines[6]!.slice(0, 60))))),
    error: /reviews_Beauty_5\.json\.gz:7: not a JSON review line/,
  },
  {
    name: 'metadata with code in place of a Python literal',
    stage: 'ingest',
    attempt: async (dir) => {
      const asin = String(sample.meta[3]!.asin);
      const injected = `{'asin': '${asin}', 'title': __import__('os').system('touch ${join(dir, 'pwned')}')}`;
      return ingestStage(await source(dir, amazon2014Files(sample, sample.reviewLines, replaceLine(sample.metaLines, 4, injected))));
    },
    error: /meta_Beauty\.json\.gz:4: metadata is not a Python literal/,
    check: async (dir) => assert.equal(await access(join(dir, 'pwned')).then(() => true, () => false), false, 'nothing was executed'),
  },
  {
    name: 'a review without its time',
    stage: 'ingest',
    attempt: async (dir) => ingestStage(await source(dir, amazon2014Files(sample, editJsonLine(sample.reviewLines, 12, (r) => delete r.unixReviewTime)))),
    error: /reviews_Beauty_5\.json\.gz:12, field 'unixReviewTime': missing/,
  },
  {
    name: 'a metadata record without its asin',
    stage: 'ingest',
    attempt: async (dir) => {
      const line = sample.metaLines[9]!.replace(/'asin': '[^']*', /, '');
      return ingestStage(await source(dir, amazon2014Files(sample, sample.reviewLines, replaceLine(sample.metaLines, 10, line))));
    },
    error: /meta_Beauty\.json\.gz:10, field 'asin': missing/,
  },
  {
    name: 'nobody left after the 5-core filter',
    stage: 'ingest',
    attempt: async (dir) => {
      const seen = new Map<string, number>();
      const twoEach = sample.reviewLines.filter((_, i) => {
        const user = sample.reviews[i]!.reviewerID;
        seen.set(user, (seen.get(user) ?? 0) + 1);
        return seen.get(user)! <= 2;
      });
      return ingestStage(await source(dir, amazon2014Files(sample, twoEach)));
    },
    error: /reviews_Beauty_5\.json\.gz: no user survives filtering \(k-core 5, minimum sequence length 5\)/,
  },
  {
    name: 'a title in Latin-1, not UTF-8',
    stage: 'ingest',
    attempt: async (dir) => {
      const lines = sample.metaLines.map((l, i) => Buffer.from(i === 8 ? l.replace("'title': '", "'title': 'Crème ") : l, i === 8 ? 'latin1' : 'utf8'));
      const meta = gzipSync(Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
      return ingestStage(await source(dir, { 'reviews_Beauty_5.json.gz': sample.reviewLines, 'meta_Beauty.json.gz': meta }));
    },
    error: /meta_Beauty\.json\.gz:9: not valid UTF-8/,
  },
  {
    name: 'an empty metadata file',
    stage: 'ingest',
    attempt: async (dir) => ingestStage(await source(dir, { 'reviews_Beauty_5.json.gz': sample.reviewLines, 'meta_Beauty.json.gz': Buffer.alloc(0) })),
    error: /meta_Beauty\.json\.gz: file is empty/,
  },
  {
    name: 'two reviews files for one category',
    stage: 'ingest',
    attempt: async (dir) => ingestStage(await source(dir, { ...amazon2014Files(sample), 'reviews_Beauty.json.gz': sample.reviewLines })),
    error: /data: several candidates for the reviews file .*: reviews_Beauty\.json\.gz, reviews_Beauty_5\.json\.gz; point at one file/,
  },

  // --- ingest: the other layouts ------------------------------------------------------------
  {
    name: 'Amazon 2018: a review time that is not a number',
    stage: 'ingest',
    attempt: async (dir) => {
      const files = amazon2018Files(sample);
      files['Beauty_5.json.gz'] = editJsonLine(files['Beauty_5.json.gz']!, 21, (r) => (r.unixReviewTime = 'yesterday'));
      return ingestStage(await source(dir, files, 'amazon2018'));
    },
    error: /Beauty_5\.json\.gz:21, field 'unixReviewTime': timestamp is not a number: "yesterday"/,
  },
  {
    name: 'Amazon 2023: a review without parent_asin',
    stage: 'ingest',
    attempt: async (dir) => {
      const files = amazon2023Files(sample);
      files['All_Beauty.jsonl'] = editJsonLine(files['All_Beauty.jsonl']!, 31, (r) => delete r.parent_asin);
      return ingestStage(await source(dir, files, 'amazon2023'));
    },
    error: /All_Beauty\.jsonl:31, field 'parent_asin': missing/,
  },
  {
    name: 'RecBole: a row short of a column',
    stage: 'ingest',
    attempt: async (dir) => {
      const files = recboleFiles(sample);
      files['Beauty.inter'] = replaceLine(files['Beauty.inter']!, 41, files['Beauty.inter']![40]!.split('\t').slice(0, 2).join('\t'));
      return ingestStage(await source(dir, files, 'recbole'));
    },
    error: /Beauty\.inter:41: expected 3 tab-separated columns, found 2/,
  },
  {
    name: 'LC-Rec: a user listed twice',
    stage: 'ingest',
    attempt: async (dir) => {
      const files = lcrecFiles(sample);
      const inter = files['Beauty.inter.json']!;
      files['Beauty.inter.json'] = [...inter.slice(0, -2), `${inter.at(-2)},`, '"5": [1, 2, 3, 4, 5]', '}'];
      return ingestStage(await source(dir, files, 'lcrec'));
    },
    error: /Beauty\.inter\.json, field '5': user '5' is listed twice/,
  },
  {
    name: 'LC-Rec: an item file that is not JSON',
    stage: 'ingest',
    attempt: async (dir) => {
      const files = lcrecFiles(sample);
      files['Beauty.item.json'] = replaceLine(files['Beauty.item.json']!, 11, files['Beauty.item.json']![10]!.replace(/,$/, ''));
      return ingestStage(await source(dir, files, 'lcrec'));
    },
    error: /Beauty\.item\.json: not a JSON object of the LC-Rec format: .* at line 12/,
  },

  // --- embed: the file encoder's inputs, the hf encoder's model directory ---------------------
  {
    name: 'an .npy with one row too many',
    stage: 'embed',
    attempt: async (dir) => {
      await writeFile(join(dir, 'emb.npy'), encodeNpy(embeddings(items() + 1, 16), [items() + 1, 16]));
      return embedStage(fileEncoder(join(dir, 'emb.npy')));
    },
    error: /emb\.npy, field 'shape': 287 embedding rows for 286 items/,
  },
  {
    name: 'an .npy of another dimension than the settings say',
    stage: 'embed',
    attempt: async (dir) => {
      await writeFile(join(dir, 'emb.npy'), encodeNpy(embeddings(items(), 16), [items(), 16]));
      return embedStage(fileEncoder(join(dir, 'emb.npy'), { dim: 32 }));
    },
    error: /emb\.npy, field 'dim': embeddings have 16 dimensions, the settings expect 32/,
  },
  {
    name: 'an .npy holding a NaN',
    stage: 'embed',
    attempt: async (dir) => {
      const data = embeddings(items(), 16);
      data[5 * 16 + 3] = Number.NaN;
      await writeFile(join(dir, 'emb.npy'), encodeNpy(data, [items(), 16]));
      return embedStage(fileEncoder(join(dir, 'emb.npy')));
    },
    error: /emb\.npy, field 'row 5': row 5, column 3: NaN; embeddings must be finite/,
  },
  {
    name: 'a .safetensors holding an Infinity',
    stage: 'embed',
    attempt: async (dir) => {
      const data = embeddings(items(), 16);
      data[7 * 16] = Number.POSITIVE_INFINITY;
      await writeSafetensors(join(dir, 'emb.safetensors'), { embedding: { shape: [items(), 16], data } });
      return embedStage(fileEncoder(join(dir, 'emb.safetensors')));
    },
    error: /emb\.safetensors, field 'row 7': row 7, column 0 is Infinity; embeddings must be finite/,
  },
  {
    name: 'a .safetensors of integers',
    stage: 'embed',
    attempt: async (dir) => {
      await writeSafetensors(join(dir, 'emb.safetensors'), { embedding: { shape: [items(), 16], data: new Int32Array(items() * 16) } });
      return embedStage(fileEncoder(join(dir, 'emb.safetensors')));
    },
    error: /emb\.safetensors, field 'embedding': tensor 'embedding' has dtype I32: embeddings must be F32, F16, BF16 or F64/,
  },
  {
    name: 'row ids naming one item twice',
    stage: 'embed',
    attempt: async (dir) => {
      await writeFile(join(dir, 'emb.npy'), encodeNpy(embeddings(items(), 16), [items(), 16]));
      const ids = Array.from({ length: items() }, (_, i) => (i === 9 ? 2 : i));
      await writeFile(join(dir, 'ids.json'), JSON.stringify(ids));
      return embedStage(fileEncoder(join(dir, 'emb.npy'), { idsPath: join(dir, 'ids.json') }));
    },
    error: /ids\.json, field 'ids': rows 2 and 9 both hold item 2/,
  },
  {
    name: 'a Hugging Face model directory without weights',
    stage: 'embed',
    attempt: async (dir) => {
      const model = await modelWithoutWeights(join(dir, 'model'));
      return embedStage(
        variant((c) => {
          c.embed.encoder = 'hf';
          c.embed.hf.modelDir = model;
        }),
      );
    },
    error: /model: no model\.safetensors\.index\.json or model\.safetensors in this directory/,
  },

  // --- rqvae -----------------------------------------------------------------------------------
  {
    name: 'a codebook larger than the items can fill',
    stage: 'rqvae',
    attempt: async () => {
      const c = variant((c) => (c.rqvae.codebookSize = 512));
      return h.run(h.acts.rqvae, await h.run(h.acts.planRqvae, c, up.embed));
    },
    error: /field 'rqvae\.codebookSize': k-means needs at least codebookSize = 512 items to initialise a codebook, but has 286/,
  },
  {
    name: 'settings out of range that skipped the config check',
    stage: 'rqvae',
    attempt: async () => {
      const c = unvalidated((c) => (c.rqvae.latentDim = 0));
      return h.run(h.acts.rqvae, await h.run(h.acts.planRqvae, c, up.embed));
    },
    error: /field 'rqvae\.latentDim': must be an integer >= 1, got 0/,
  },

  // --- semid -----------------------------------------------------------------------------------
  {
    name: 'settings out of range that skipped the config check',
    stage: 'semid',
    attempt: async () => {
      const c = unvalidated((c) => (c.semid.epsilon = 0));
      return h.run(h.acts.semid, await h.run(h.acts.planSemid, c, up.embed, up.rqvae));
    },
    error: /field 'semid\.epsilon': must be > 0, got 0/,
  },

  {
    name: 'embeddings of another width than the RQ-VAE was trained on',
    stage: 'semid',
    attempt: async (dir, upstreamReady) => {
      // A published embed artifact of its own (16-d, from a file) beside the 768-d one the RQ-VAE learnt.
      await writeFile(join(dir, 'emb.npy'), encodeNpy(embeddings(items(), 16), [items(), 16]));
      const narrow = await embedStage(fileEncoder(join(dir, 'emb.npy')));
      await upstreamReady();
      return h.run(h.acts.semid, await h.run(h.acts.planSemid, config, narrow, up.rqvae));
    },
    error: /item_embeddings\.safetensors, field 'dim': embeddings have 16 dimensions, expected 768/,
  },

  // --- prompts ---------------------------------------------------------------------------------
  {
    name: 'settings out of range that skipped the config check',
    stage: 'prompts',
    attempt: async () => {
      const c = unvalidated((c) => (c.prompts.history.maxItems = 0));
      return h.run(h.acts.prompts, await h.run(h.acts.planPrompts, c, up.ingest, up.semid));
    },
    error: /field 'prompts\.history\.maxItems': Too small: expected number to be >=1/,
  },

  // --- finetune --------------------------------------------------------------------------------
  {
    name: 'a pretrained base directory without weights',
    stage: 'finetune',
    attempt: async (dir) => finetuneStage(pretrainedBase(await modelWithoutWeights(join(dir, 'base')))),
    error: /base: no model\.safetensors\.index\.json or model\.safetensors in this directory/,
  },
  {
    name: 'a base tokenizer that already holds <C0_1>-style tokens',
    stage: 'finetune',
    attempt: async (dir) => {
      const model = join(dir, 'base');
      await cp(hfModel, model, { recursive: true });
      // Another project's tokenizer: the same files with its own <C{level}_{code}> added tokens.
      for (const name of ['tokenizer.json', 'tokenizer_config.json']) await cp(join(FIXTURE_TOKENIZER, name), join(model, name));
      return finetuneStage(pretrainedBase(model));
    },
    error: /base\/tokenizer\.json, field 'added_tokens': the tokenizer already contains \d+ token\(s\) shaped like the semantic-ID tokens <C\{level\}_\{code\}>: <C0_0> \(id \d+\)/,
  },
  {
    name: 'a LoRA target the model does not have',
    stage: 'finetune',
    attempt: () => finetuneStage(variant((c) => (c.finetune.lora = { ...c.finetune.lora, enabled: true, targets: ['q_proj', 'qkv_proj'] }))),
    error: /field 'finetune\.lora\.targets': LoRA target module 'qkv_proj' matches no linear layer of the model; available: down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj/,
  },
  {
    name: 'picking the epoch by recall with no recall users',
    stage: 'finetune',
    attempt: () => finetuneStage(variant((c) => (c.finetune.validation.selectBy = 'recall'))),
    error: /field 'finetune\.validation\.selectBy': selecting the epoch by recall needs the beam search and recallUsers > 0/,
  },

  // --- evaluate --------------------------------------------------------------------------------
  {
    name: 'a template the prompts do not have',
    stage: 'evaluate',
    attempt: () => evaluateStage(variant((c) => (c.evaluate.template = 99))),
    error: /field 'evaluate\.template': 99 is not a seqrec template \(known: 0, 1, /,
  },
  {
    name: 'a LoRA run that saved only its adapter',
    stage: 'evaluate',
    attempt: async (_dir, upstreamReady) => {
      const lora = variant((c) => (c.finetune.lora = { ...c.finetune.lora, enabled: true, saveMerged: false }));
      const adapterOnly = await finetuneStage(lora);
      await upstreamReady();
      return evaluateStage(lora, adapterOnly);
    },
    error: /field 'finetune\.lora\.saveMerged': this LoRA run saved only its adapter \(base scratch\); set finetune\.lora\.saveMerged=true/,
  },
  {
    name: 'settings out of range that skipped the config check',
    stage: 'evaluate',
    attempt: () => evaluateStage(unvalidated((c) => (c.evaluate.beamWidth = 4))),
    error: /field 'evaluate\.beamWidth': Too small: expected number to be >=10/,
  },
];

before(async () => {
  h = await createStageHarness('lcrec-bad-input-');
  config = normalizeConfig(await resolveConfig({ preset: 'tiny', sets: QUICK }));
  sample = await sampleSource(join(h.root, 'sample'), config.dataset.sample);
  const ingest = await h.stage(h.run(h.acts.planIngest, config), h.acts.ingest);
  const embed = await h.stage(h.run(h.acts.planEmbed, config, ingest), h.acts.embed);
  const rqvae = await h.stage(h.run(h.acts.planRqvae, config, embed), h.acts.rqvae);
  const semid = await h.stage(h.run(h.acts.planSemid, config, embed, rqvae), h.acts.semid);
  const prompts = await h.stage(h.run(h.acts.planPrompts, config, ingest, semid), h.acts.prompts);
  const finetune = await h.stage(h.run(h.acts.planFinetune, config, ingest, semid, prompts), h.acts.finetune);
  up = { ingest, embed, rqvae, semid, prompts, finetune };

  await initTensorEngine();
  hfModel = join(h.root, 'qwen-tiny');
  const tokenizer = await readTokenizerDir(qwen3TokenizerDir());
  const size = new HfTokenizer(tokenizer).size;
  const model = randomQwen(scratchConfig({ hiddenSize: 32, intermediateSize: 64, layers: 1, heads: 2, kvHeads: 1 }, size, { eos: 0, pad: 0 }), 7);
  try {
    await saveQwen(model, hfModel, { addFiles: (d) => writeTokenizerFiles(d, tokenizer) });
  } finally {
    model.dispose();
  }
  await rm(join(hfModel, LCREC_RECORD_FILE)); // a model from the Hub has no record of ours
});

after(async () => h?.close());

test('the table covers at least 20 cases across every stage', () => {
  assert.ok(CASES.length >= 20, `${CASES.length} cases`);
  const stages = new Set(CASES.map((c) => c.stage));
  for (const stage of ['config', 'ingest', 'embed', 'rqvae', 'semid', 'prompts', 'finetune', 'evaluate']) assert.ok(stages.has(stage as StageName), stage);
});

for (const c of CASES) {
  test(`${c.stage}: ${c.name}`, async () => {
    const dir = await mkdtemp(join(h.root, 'case-'));
    let storeBefore = await h.storeFiles();
    const upstreamReady = async () => {
      storeBefore = await h.storeFiles();
    };
    const outcome = await c.attempt(dir, upstreamReady).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(outcome !== undefined, 'the stage must refuse this input');
    if (c.stage === 'config') {
      assert.ok(outcome instanceof BadInputError, `a BadInputError, got ${String(outcome)}`);
    } else {
      // What the worker reports: a non-retryable failure of type BadInputError.
      assert.ok(outcome instanceof ApplicationFailure, `an ApplicationFailure, got ${(outcome as Error).stack ?? String(outcome)}`);
      assert.equal(outcome.type, 'BadInputError', outcome.message);
      assert.equal(outcome.nonRetryable, true);
    }
    assert.match((outcome as Error).message, c.error);
    assert.deepEqual(await h.storeFiles(), storeBefore, 'no manifest and no file left in the store');
    await c.check?.(dir);
  });
}

test('ingest: control characters in a title are dropped, the rest of the title kept', async () => {
  const dir = await mkdtemp(join(h.root, 'control-'));
  const asin = String(sample.meta[4]!.asin);
  // A Python literal spells control characters as escapes: NUL, BEL and the C1 CSI.
  const line = `{'asin': '${asin}', 'title': 'Rose\\x00 Water\\x07 Toner\\x9b', 'brand': 'Acme\\x1b', 'categories': [['Beauty', 'Skin\\x01 Care']]}`;
  const c = await source(dir, amazon2014Files(sample, sample.reviewLines, replaceLine(sample.metaLines, 5, line)));
  const out = await ingestStage(c);
  const table = await readParquet(join(await h.store.localDir((await h.store.getManifest('ingest', out.key))!), 'items.parquet'));
  const row = table.toArray().find((r) => r.asin === asin);
  assert.ok(row, `item ${asin} is kept`);
  assert.deepEqual([row.title, row.brand, row.categories], ['Rose Water Toner.', 'Acme', 'Beauty,Skin Care']);
});

test('control: every layout of the uncorrupted sample ingests', async () => {
  const dir = await mkdtemp(join(h.root, 'control-'));
  const layouts = { amazon2018: amazon2018Files, amazon2023: amazon2023Files, recbole: recboleFiles, lcrec: lcrecFiles } as const;
  for (const [format, files] of Object.entries(layouts)) {
    await mkdir(join(dir, format));
    const out = await ingestStage(await source(join(dir, format), files(sample), format as keyof typeof layouts));
    assert.ok(Number(out.summary.users) > 500, `${format}: ${JSON.stringify(out.summary)}`);
  }
  assert.equal(Number(up.ingest.summary.items), 286, 'the embed cases count on the sample having 286 items');
});

