/**
 * The directories our code saves for the save round trip (issue 6): fixture models loaded, their
 * vocabulary changed with the row operations, saved by saveQwen. make_fixtures.py `roundtrip`
 * loaded exactly these bytes with transformers and recorded its logits and the files' sha256
 * (test/fixtures/llm/*.roundtrip.safetensors); test/unit/llmRoundtrip.test.ts rebuilds them and
 * checks both. Regenerate the directories for Python with:
 *
 *   node --import tsx tools/reference/roundtripModels.ts /tmp/lcrec-roundtrip
 *   for n in qwen3-tiny-resized qwen2-tiny-sharded; do
 *     /work/pyref-venv/bin/python tools/reference/make_fixtures.py roundtrip --model /tmp/lcrec-roundtrip/$n \
 *       --ids test/fixtures/llm/${n%-*}.reference.safetensors --out test/fixtures/llm/$n.roundtrip.safetensors
 *   done
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadQwen, saveQwen } from '../../src/llm/checkpoint.js';
import { reinitRows, resizeVocabulary } from '../../src/llm/embeddingRows.js';

export const FIXTURES = fileURLToPath(new URL('../../test/fixtures/llm/', import.meta.url));

export interface RoundtripCase {
  /** Directory name of the saved model and prefix of its .roundtrip.safetensors fixture. */
  name: string;
  /** The fixture model it starts from (and whose reference ids are run). */
  source: string;
  build: (dir: string) => Promise<void>;
}

export const ROUNDTRIP_CASES: readonly RoundtripCase[] = [
  {
    // Tied head: 300 -> 340 rows drawn N(0, 0.02), then rows 3 and 250 re-initialised to the mean.
    name: 'qwen3-tiny-resized',
    source: 'qwen3-tiny',
    build: async (dir) => {
      const model = await loadQwen(join(FIXTURES, 'qwen3-tiny'));
      resizeVocabulary(model, 340, { kind: 'normal', seed: 7 });
      reinitRows(model, Int32Array.of(3, 250), { kind: 'mean' });
      await saveQwen(model, dir);
      model.dispose();
    },
  },
  {
    // Untied head, grown to 320 rows by the mean, saved in shards of at most 100 kB with an index.
    name: 'qwen2-tiny-sharded',
    source: 'qwen2-tiny',
    build: async (dir) => {
      const model = await loadQwen(join(FIXTURES, 'qwen2-tiny'));
      resizeVocabulary(model, 320, { kind: 'mean' });
      await saveQwen(model, dir, { maxShardBytes: 100_000 });
      model.dispose();
    },
  },
];

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2];
  if (!out) throw new Error('usage: roundtripModels.ts OUT_DIR');
  for (const c of ROUNDTRIP_CASES) {
    await c.build(join(out, c.name));
    console.log(join(out, c.name));
  }
}
