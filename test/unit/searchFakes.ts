/**
 * Small table-driven stand-ins for the LLM, for the search and evaluation tests (not a test file
 * itself). A "model" here is a deterministic function of the whole token sequence: each row keeps
 * a running hash of its prompt and generated tokens, and the logit of a candidate token is a
 * seeded hash of (row hash, token) mapped to [-3, 3). `prefer` adds a bonus to the tokens of one
 * path chosen from the prompt, so evaluations see real hits and misses.
 */
import type { DecodeSession, SessionFactory } from '../../src/search/decodeSession.js';
import { fmix32 } from '../../src/tensor/rng.js';

export interface RecordedCall {
  /** Generated tokens of each row so far, and the tokens it was allowed. */
  rows: { prompt: number; generated: number[]; allowed: number[] }[];
}

interface Row {
  prompt: number;
  hash: number;
  generated: number[];
}

export class HashModel implements SessionFactory {
  readonly calls: RecordedCall[] = [];
  sessionsStarted = 0;
  advances = 0;
  live = 0;

  constructor(
    private readonly seed: number,
    private readonly prefer?: { path: (prompt: Int32Array) => Int32Array | undefined; bonus: number },
  ) {}

  async start(prompts: readonly Int32Array[]): Promise<DecodeSession> {
    this.sessionsStarted++;
    this.live++;
    const model = this;
    let rows: Row[] = prompts.map((p, i) => ({ prompt: i, hash: hashTokens(this.seed, p), generated: [] }));
    let disposed = false;
    const alive = () => {
      if (disposed) throw new Error('session used after dispose');
    };
    return {
      get rows() {
        return rows.length;
      },
      async nextLogits(allowed) {
        alive();
        if (allowed.length !== rows.length) throw new Error(`nextLogits: ${allowed.length} allowed lists for ${rows.length} rows`);
        model.calls.push({ rows: rows.map((r, i) => ({ prompt: r.prompt, generated: [...r.generated], allowed: Array.from(allowed[i]!) })) });
        return rows.map((row, i) => {
          const want = model.prefer?.path(prompts[row.prompt]!);
          const nextPreferred = want && row.generated.every((t, l) => want[l] === t) ? want[row.generated.length] : undefined;
          return Float32Array.from(allowed[i]!, (token) => model.logit(row.hash, token) + (token === nextPreferred ? model.prefer!.bonus : 0));
        });
      },
      async advance(parents, tokens) {
        alive();
        model.advances++;
        if (parents.length !== tokens.length) throw new Error('advance: parents and tokens differ in length');
        rows = Array.from(parents, (p, j) => {
          const parent = rows[p];
          if (!parent) throw new Error(`advance: no row ${p}`);
          return { prompt: parent.prompt, hash: fmix32((parent.hash ^ Math.imul(tokens[j]! + 1, 0x9e3779b1)) >>> 0), generated: [...parent.generated, tokens[j]!] };
        });
      },
      dispose() {
        if (!disposed) model.live--;
        disposed = true;
      },
    };
  }

  private logit(rowHash: number, token: number): number {
    const h = fmix32((rowHash ^ fmix32((token * 2654435761 + this.seed) >>> 0)) >>> 0);
    return ((h >>> 8) / 2 ** 24) * 6 - 3;
  }
}

function hashTokens(seed: number, tokens: Int32Array): number {
  let h = fmix32(seed >>> 0);
  for (const t of tokens) h = fmix32((h ^ Math.imul(t + 1, 0x9e3779b1)) >>> 0);
  return h;
}

/** Test token ids: code c of level l is token 1000 + 100 l + c; EOS is 2. */
export const TEST_TOKENS = { codeTokenId: (level: number, code: number) => 1000 + 100 * level + code, eosId: 2 };

/**
 * Reference scores by brute force: every item's full path, scored through the same session
 * contract one item at a time (log-softmax over the trie's allowed codes at each prefix).
 */
export async function bruteForceScores(
  model: SessionFactory,
  prompt: Int32Array,
  codes: Int32Array,
  depth: number,
  allowedCodes: (prefix: number[]) => Int32Array,
): Promise<Float64Array> {
  const items = codes.length / depth;
  const out = new Float64Array(items);
  for (let item = 0; item < items; item++) {
    const session = await model.start([prompt]);
    let score = 0;
    const prefix: number[] = [];
    for (let l = 0; l < depth; l++) {
      const allowed = Int32Array.from(allowedCodes(prefix), (c) => TEST_TOKENS.codeTokenId(l, c));
      const [z] = await session.nextLogits([allowed]);
      const code = codes[item * depth + l]!;
      const at = allowed.indexOf(TEST_TOKENS.codeTokenId(l, code));
      const max = Math.max(...z!);
      const lse = max + Math.log(z!.reduce((s, v) => s + Math.exp(v - max), 0));
      score += z![at]! - lse;
      prefix.push(code);
      await session.advance(Int32Array.of(0), Int32Array.of(allowed[at]!));
    }
    session.dispose();
    out[item] = score;
  }
  return out;
}

/** `items` distinct random code tuples of `depth` levels with `codebook` codes each. */
export function randomCodes(items: number, depth: number, codebook: number, seed: number): Int32Array {
  if (items > codebook ** depth) throw new RangeError(`${items} distinct tuples do not fit ${codebook}^${depth}`);
  const seen = new Set<string>();
  const out = new Int32Array(items * depth);
  let h = seed >>> 0;
  for (let i = 0; i < items; ) {
    const tuple = Array.from({ length: depth }, () => {
      h = fmix32((h + 0x6d2b79f5) >>> 0);
      return h % codebook;
    });
    const key = tuple.join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    out.set(tuple, i * depth);
    i++;
  }
  return out;
}

/**
 * Plain beam search for reference: one prompt, every step through the model (forced tokens too),
 * scores renormalised over the allowed codes, ties to the earlier (beam, code). Objects and
 * arrays everywhere: slow, obvious.
 */
export async function plainBeamSearch(
  model: SessionFactory,
  prompt: Int32Array,
  depth: number,
  beamWidth: number,
  allowedCodes: (prefix: number[]) => Int32Array,
): Promise<{ paths: number[][]; scores: number[] }> {
  const session = await model.start([prompt]);
  let beams = [{ path: [] as number[], score: 0 }];
  for (let l = 0; l < depth; l++) {
    const allowed = beams.map((b) => Int32Array.from(allowedCodes(b.path), (c) => TEST_TOKENS.codeTokenId(l, c)));
    const logits = await session.nextLogits(allowed);
    const candidates: { parent: number; path: number[]; score: number; token: number }[] = [];
    beams.forEach((b, i) => {
      const z = Array.from(logits[i]!);
      const max = Math.max(...z);
      const lse = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
      allowed[i]!.forEach((token, c) => candidates.push({ parent: i, path: [...b.path, token - TEST_TOKENS.codeTokenId(l, 0)], score: b.score + z[c]! - lse, token }));
    });
    const kept = candidates.map((c, order) => ({ ...c, order })).sort((a, b) => b.score - a.score || a.order - b.order).slice(0, beamWidth);
    await session.advance(Int32Array.from(kept, (c) => c.parent), Int32Array.from(kept, (c) => c.token));
    beams = kept.map((c) => ({ path: c.path, score: c.score }));
  }
  session.dispose();
  return { paths: beams.map((b) => b.path), scores: beams.map((b) => b.score) };
}

/** ASIN of fixture item i. */
export const fixtureAsin = (i: number) => `B00TEST${String(i).padStart(3, '0')}`;

/**
 * A small ingested dataset and its semantic IDs, written by the real stages' library calls:
 * `users` users over `items` items (LC-Rec format with ASINs, titles, brand, categories), IDs of
 * 3 levels x 3 codes. Returns the two output directories.
 */
export async function writeFixtureDataset(root: string, users = 9, items = 12): Promise<{ ingest: string; semid: string }> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { ingest } = await import('../../src/data/ingest.js');
  const { assignSemanticIds } = await import('../../src/semid/assign.js');
  const { writeSemanticIds } = await import('../../src/semid/writeSemanticIds.js');
  const data = join(root, 'dataset');
  const out = { ingest: join(root, 'ingest'), semid: join(root, 'semid') };
  await mkdir(data, { recursive: true });
  await mkdir(out.semid, { recursive: true });
  const inter = Object.fromEntries(Array.from({ length: users }, (_, u) => [String(u), Array.from({ length: 4 + (u % 3) }, (_, i) => fmix32(u * 13 + i) % items)]));
  const meta = Object.fromEntries(Array.from({ length: items }, (_, i) => [String(i), { asin: fixtureAsin(i), title: `Lipstick number ${i}`, brand: 'Brand', categories: 'Beauty,Makeup' }]));
  await writeFile(join(data, 'X.inter.json'), JSON.stringify(inter));
  await writeFile(join(data, 'X.item.json'), JSON.stringify(meta));
  await ingest(data, 'lcrec', { kCore: null, dedupe: true, requireMetadata: true, minSequenceLength: 3 }, out.ingest);
  const assignment = assignSemanticIds({ codes: randomCodes(items, 3, 3, 7), codebookSizes: [3, 3, 3], costs: (ids) => new Float32Array(ids.length * 3) });
  await writeSemanticIds(out.semid, assignment);
  return out;
}
