import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend, tf } from '../../src/tensor/backend.js';
import { decodeSafetensors } from '../../src/tensor/safetensors.js';
import { loadQwen } from '../../src/llm/checkpoint.js';
import { FIXTURES, ROUNDTRIP_CASES } from '../../tools/reference/roundtripModels.js';

before(async () => {
  await selectBackend({ prefer: 'wasm', log: () => {} });
});

for (const c of ROUNDTRIP_CASES) {
  test(`${c.name}: the directory we save is the one transformers loaded, and our logits on it equal transformers'`, async () => {
    const root = await mkdtemp(join(tmpdir(), 'lcrec-llm-roundtrip-'));
    try {
      const dir = join(root, c.name);
      await c.build(dir);
      const fixture = decodeSafetensors(await readFile(join(FIXTURES, `${c.name}.roundtrip.safetensors`)));
      // Byte-identical files: what Python read is exactly what saveQwen writes.
      const expected = JSON.parse(fixture.metadata['files']!) as Record<string, string>;
      const actual: Record<string, string> = {};
      for (const file of (await readdir(dir)).sort()) actual[file] = createHash('sha256').update(await readFile(join(dir, file))).digest('hex');
      assert.deepEqual(actual, expected);
      // transformers used every tensor and missed none (it would fill missing ones randomly).
      const loading = JSON.parse(fixture.metadata['loading_info']!) as Record<string, unknown[]>;
      for (const [key, list] of Object.entries(loading)) assert.deepEqual(list, [], `transformers loading_info.${key}`);

      const model = await loadQwen(dir);
      assert.equal(String(model.vocabSize), fixture.metadata['vocab_size']);
      for (let s = 0; fixture.tensors.has(`ids_${s}`); s++) {
        const ids = fixture.tensors.get(`ids_${s}`)!.data as Int32Array;
        const logits = tf.tidy(() => model.headLogits(model.hidden(ids, 1, ids.length)).dataSync());
        const want = fixture.tensors.get(`logits_${s}`)!.data as Float32Array;
        assert.equal(logits.length, want.length);
        let worst = 0;
        want.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - logits[i]!))));
        assert.ok(worst <= 1e-4, `sequence ${s}: logits differ from transformers' by ${worst}`);
      }
      model.dispose();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
}
