/**
 * The semantic-ID tokens added to the LLM: `<C{level}_{code}>` (genrec's naming, spec D.3), one per
 * code of every level, all of them whether used or not (genrec adds all 5 x 256; the official code
 * adds only the used ones). Sizes per level come from the assignment: the RQ-VAE's codebook sizes,
 * then the extra disambiguation level's size when it was added (assign.ts explains the fixed
 * length). An item is written as its tokens concatenated without spaces, level 0 first:
 * "<C0_12><C1_3><C2_200><C3_7>". The tokens should be added as special tokens, so decoding must not
 * skip special tokens (spec D.3).
 */
import { BadInputError } from '../errors.js';

export const VOCABULARY_FORMAT = 'lcrec.semantic_vocabulary/1';
const TOKEN = /<C(\d+)_(\d+)>/y;

export function codeToken(level: number, code: number): string {
  return `<C${level}_${code}>`;
}

export interface VocabularyJson {
  format: typeof VOCABULARY_FORMAT;
  tokenPattern: '<C{level}_{code}>';
  levels: number;
  codebookSizes: number[];
  /** True when the last level is the extra disambiguation level. */
  extraLevel: boolean;
  /** Every token, level-major, code ascending: the order to add them to the tokenizer. */
  tokens: string[];
}

export class SemanticVocabulary {
  readonly codebookSizes: readonly number[];

  constructor(codebookSizes: readonly number[], readonly extraLevel: boolean) {
    if (codebookSizes.length === 0 || !codebookSizes.every((k) => Number.isInteger(k) && k > 0)) {
      throw new RangeError(`codebook sizes must be positive integers, got [${codebookSizes}]`);
    }
    this.codebookSizes = [...codebookSizes];
  }

  get levels(): number {
    return this.codebookSizes.length;
  }

  /** All tokens, level-major, code ascending. */
  tokens(): string[] {
    return this.codebookSizes.flatMap((size, level) => Array.from({ length: size }, (_, code) => codeToken(level, code)));
  }

  /** The token string of one item's codes. */
  itemTokens(codes: ArrayLike<number>): string {
    this.check(codes);
    let out = '';
    for (let l = 0; l < codes.length; l++) out += codeToken(l, codes[l] as number);
    return out;
  }

  /** Token strings of all items (codes: items x levels, row-major). */
  allItemTokens(codes: Int32Array): string[] {
    const n = codes.length / this.levels;
    return Array.from({ length: n }, (_, i) => this.itemTokens(codes.subarray(i * this.levels, (i + 1) * this.levels)));
  }

  /**
   * The codes of a token string: exactly `levels` tokens, levels 0, 1, ... in order, codes within
   * the sizes, nothing else (no spaces). Throws RangeError otherwise; `tryParse` returns undefined.
   */
  parse(text: string): Int32Array {
    const codes = this.tryParse(text);
    if (codes === undefined) throw new RangeError(`not a semantic ID of this vocabulary (${this.levels} levels): ${JSON.stringify(text)}`);
    return codes;
  }

  tryParse(text: string): Int32Array | undefined {
    const codes = new Int32Array(this.levels);
    let at = 0;
    for (let l = 0; l < this.levels; l++) {
      TOKEN.lastIndex = at;
      const m = TOKEN.exec(text);
      if (!m || Number(m[1]) !== l || !isCanonical(m[1] as string) || !isCanonical(m[2] as string)) return undefined;
      const code = Number(m[2]);
      if (code >= (this.codebookSizes[l] as number)) return undefined;
      codes[l] = code;
      at = TOKEN.lastIndex;
    }
    return at === text.length ? codes : undefined;
  }

  toJSON(): VocabularyJson {
    return {
      format: VOCABULARY_FORMAT,
      tokenPattern: '<C{level}_{code}>',
      levels: this.levels,
      codebookSizes: [...this.codebookSizes],
      extraLevel: this.extraLevel,
      tokens: this.tokens(),
    };
  }

  static fromJSON(value: unknown, file = '<vocabulary>'): SemanticVocabulary {
    const v = value as Partial<VocabularyJson> | null;
    if (typeof v !== 'object' || v === null || v.format !== VOCABULARY_FORMAT) {
      throw new BadInputError(`not a semantic vocabulary (format must be '${VOCABULARY_FORMAT}')`, { file, field: 'format' });
    }
    const sizes = v.codebookSizes;
    if (!Array.isArray(sizes) || sizes.length === 0 || !sizes.every((k) => Number.isInteger(k) && k > 0) || v.levels !== sizes.length) {
      throw new BadInputError(`bad codebookSizes ${JSON.stringify(sizes)} for ${v.levels} levels`, { file, field: 'codebookSizes' });
    }
    if (typeof v.extraLevel !== 'boolean') throw new BadInputError('extraLevel must be a boolean', { file, field: 'extraLevel' });
    const vocab = new SemanticVocabulary(sizes, v.extraLevel);
    const expected = vocab.tokens();
    if (!Array.isArray(v.tokens) || v.tokens.length !== expected.length || v.tokens.some((t, i) => t !== expected[i])) {
      throw new BadInputError('tokens do not match the codebook sizes', { file, field: 'tokens' });
    }
    return vocab;
  }

  private check(codes: ArrayLike<number>): void {
    if (codes.length !== this.levels) throw new RangeError(`an item has ${this.levels} codes, got ${codes.length}`);
    for (let l = 0; l < codes.length; l++) {
      const c = codes[l] as number;
      if (!Number.isInteger(c) || c < 0 || c >= (this.codebookSizes[l] as number)) {
        throw new RangeError(`code ${c} at level ${l} is outside 0..${(this.codebookSizes[l] as number) - 1}`);
      }
    }
  }
}

/** No leading zeros: "<C0_07>" is not a token of the vocabulary. */
function isCanonical(digits: string): boolean {
  return digits === '0' || !digits.startsWith('0');
}
