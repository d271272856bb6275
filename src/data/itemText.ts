import { cleanBrand, cleanText, cleanTitle, joinCategories } from './textClean.js';

/** The text of one item after cleaning (spec A.4), as stored in `items.parquet`. */
export interface ItemText {
  /** Amazon product id, when the source names one. */
  asin: string | null;
  title: string;
  description: string;
  brand: string;
  /** Comma-joined, coarse to fine. */
  categories: string;
  price: number | null;
}

/** Progress of a long step: `done` of `total` units (bytes, rows); total unknown when undefined. */
export interface Progress {
  phase: string;
  done: number;
  total?: number;
}

export type ProgressSink = (progress: Progress) => void;

/**
 * The cleaned text of one metadata record (2014 dict literal, 2018 JSON or LC-Rec item entry).
 * `categories` (2014, LC-Rec) or `category` (2018) are both understood.
 */
export function itemTextFromRecord(record: Record<string, unknown>, asin: string | null): ItemText {
  const price = record.price;
  return {
    asin,
    title: cleanTitle(record.title),
    description: record.description === undefined || record.description === '' ? '' : cleanText(record.description),
    brand: cleanBrand(record.brand),
    categories: joinCategories(record.categories ?? record.category),
    price: typeof price === 'number' && Number.isFinite(price) ? price : null,
  };
}
