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
