/**
 * The item text as prompts use it (spec E.2): titles with trailing `.!?,;:` and backticks removed
 * (the ingested text ends in the "." that clean_text appends), descriptions the same way and
 * optionally cut to a number of words. Missing text is null, never "" or ".", so a task that
 * needs it can skip the item and count it.
 */
import type { DescriptionSource } from './settings.js';

/** Per item (row = item_id): what prompts show of it. */
export interface PromptItems {
  /** Semantic-ID tokens, "<C0_12><C1_3>...". */
  tokens: readonly string[];
  titles: readonly (string | null)[];
  descriptions: readonly (string | null)[];
}

/** The ingested fields the prompt text is made from (items.parquet columns). */
export interface RawItemText {
  title: string | null;
  description: string | null;
  brand: string | null;
  categories: string | null;
}

const TRAILING = /[\s.!?,;:`]+$/u;

/** Official `title.strip().strip(".!?,;:`")`, trailing side only; "" and "." become null. */
export function promptTitle(raw: string | null): string | null {
  if (raw === null) return null;
  const text = raw.trim().replace(TRAILING, '');
  return text === '' ? null : text;
}

export function promptDescription(raw: RawItemText, source: DescriptionSource, maxWords: number | null): string | null {
  const text = source === 'description' ? promptTitle(raw.description) : brandCategories(raw.brand, raw.categories);
  if (text === null || maxWords === null) return text;
  const words = text.split(/\s+/u);
  return words.length <= maxWords ? text : words.slice(0, maxWords).join(' ').replace(TRAILING, '');
}

/**
 * genrec's stand-in description (spec A.4) without its stray-parenthesis quirk: "by OPI (Beauty,
 * Makeup, Nails)", from the brand and the first three categories (coarse to fine); either part
 * alone when the other is missing.
 */
export function brandCategories(brand: string | null, categories: string | null): string | null {
  const by = brand?.trim() ? `by ${brand.trim()}` : '';
  const path = (categories ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '')
    .slice(0, 3)
    .join(', ');
  if (by && path) return `${by} (${path})`;
  return by || path || null;
}
