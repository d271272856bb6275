import { mkdir } from 'node:fs/promises';
import type { ProgressSink } from '../data/itemText.js';
import { readItemEmbeddings } from '../embed/writeEmbeddings.js';
import { readModelDir } from '../rqvae/checkpointFiles.js';
import { encodeCodes, lastLevelDistances } from '../rqvae/codes.js';
import { initTensorEngine } from '../tensor/init.js';
import { assignSemanticIds, type CollisionRepairSettings } from './assign.js';
import { writeSemanticIds } from './writeSemanticIds.js';

/**
 * The semantic-ID stage: argmin codes of every item from the trained RQ-VAE, collision repair
 * (Sinkhorn on the last level, then an extra level only where items stay identical), and the
 * files later stages read: semantic_ids.parquet, collision_report.json, vocabulary.json, trie.json.
 */
export async function runSemidStage(
  embeddingsPath: string,
  rqvaeDir: string,
  outDir: string,
  settings: CollisionRepairSettings,
  opts: { onProgress?: ProgressSink } = {},
) {
  await mkdir(outDir, { recursive: true });
  await initTensorEngine();
  const model = await readModelDir(rqvaeDir);
  try {
    // Embeddings of another encoder than the one the RQ-VAE learnt from are bad input, not a shape error.
    const { embeddings } = await readItemEmbeddings(embeddingsPath, { dim: model.config.inputDim });
    opts.onProgress?.({ phase: 'assigning codes', done: 0, total: 2 });
    const { levels, codebookSize } = model.settings;
    const assignment = assignSemanticIds({
      codes: encodeCodes(model, embeddings),
      codebookSizes: Array.from({ length: levels }, () => codebookSize),
      costs: (items) => lastLevelDistances(model, embeddings, items),
      settings,
    });
    opts.onProgress?.({ phase: 'writing', done: 1, total: 2 });
    await writeSemanticIds(outDir, assignment);
    const { report } = assignment;
    return {
      items: report.items,
      levels: report.levels,
      collisionsBefore: report.before.collisionRate,
      collisionsAfterSinkhorn: report.afterSinkhorn.collisionRate,
      extraLevelItems: report.extraLevel.items,
      level0Usage: report.levelUsage[0]?.used,
    };
  } finally {
    model.dispose();
  }
}
