/**
 * Raw interactions and item text as a reader finds them, appended to tables of the scratch
 * database (src/data/scratchDb.ts) instead of JS memory: a reader holds one line at a time, the
 * log one batch, and the tables spill to disk, so reading is flat in memory however large the
 * source.
 *
 *   reviews   (read_order, user_key, item_key, ts)   one row per interaction, in the order read
 *   items     (item_key, first_row)   the distinct items (made when the interactions end)
 *   item_text (item_key, meta_row, asin, title, description, brand, categories, price)
 *             the cleaned text of metadata records whose item some interaction names
 */
import type { ItemText } from './itemText.js';
import type { Appender, ScratchDb } from './scratchDb.js';

/**
 * Metadata records held before one query asks which of them name a reviewed item. Each holds a
 * parsed record, so this bounds the memory of metadata reading; the query costs a scan of `items`.
 */
const TEXT_BATCH = 4096;

export class InteractionLog {
  /** False when the source carries no timestamps (order is given by position instead). */
  hasTimestamps = true;
  /** Which metadata record of an item counts when several name it (JSON objects: the last key wins). */
  textPrecedence: 'first' | 'last' = 'first';
  private rows = 0;
  private reviews: Appender | undefined;
  private texts: Appender | undefined;
  /** Metadata offered since the last membership query; the first record of an item wins. */
  private offered = new Map<string, () => ItemText>();
  private textRecords = 0;

  private constructor(private readonly db: ScratchDb) {}

  static async create(db: ScratchDb): Promise<InteractionLog> {
    await db.run(`
      CREATE TABLE reviews (read_order INTEGER, user_key VARCHAR, item_key VARCHAR, ts DOUBLE);
      CREATE TABLE item_text (item_key VARCHAR, meta_row INTEGER, asin VARCHAR, title VARCHAR, description VARCHAR, brand VARCHAR, categories VARCHAR, price DOUBLE);
      CREATE TABLE offered_keys (item_key VARCHAR);
    `);
    const log = new InteractionLog(db);
    log.reviews = await db.appender('reviews');
    return log;
  }

  /** Interactions added so far. */
  get length(): number {
    return this.rows;
  }

  add(user: string, item: string, timestamp: number): void {
    const reviews = this.reviews;
    if (reviews === undefined) throw new Error('interactions added after metadata; every reader reads interactions first');
    reviews.appendInteger(this.rows++);
    reviews.appendVarchar(user);
    reviews.appendVarchar(item);
    reviews.appendDouble(timestamp);
    reviews.endRow();
  }

  /**
   * The text of one metadata record, kept if some interaction names `item` (`text` is called only
   * then: cleaning costs more than parsing). See `textPrecedence` for repeated items. Every
   * interaction must be added before the first record is offered.
   */
  offerItemText(item: string, text: () => ItemText): Promise<void> | undefined {
    if (this.textPrecedence === 'last') this.offered.delete(item);
    if (!this.offered.has(item)) this.offered.set(item, text);
    return this.offered.size >= TEXT_BATCH ? this.keepReviewedTexts() : undefined;
  }

  /** Ends reading: everything added is in the tables. */
  async finish(): Promise<void> {
    await this.keepReviewedTexts();
    this.texts?.closeSync();
    this.texts = undefined;
  }

  /** Closes the interactions and indexes their items (once, before the first membership query). */
  private async endInteractions(): Promise<void> {
    if (this.reviews === undefined) return;
    this.reviews.closeSync();
    this.reviews = undefined;
    await this.db.run('CREATE TABLE items AS SELECT item_key, min(read_order) AS first_row FROM reviews GROUP BY item_key');
    this.texts = await this.db.appender('item_text');
  }

  private async keepReviewedTexts(): Promise<void> {
    await this.endInteractions();
    if (this.offered.size === 0) return;
    const offered = this.offered;
    this.offered = new Map();
    const keys = await this.db.appender('offered_keys');
    for (const key of offered.keys()) {
      keys.appendVarchar(key);
      keys.endRow();
    }
    keys.closeSync();
    // The small side (the batch) is the hash table; `items` is scanned once.
    const reviewed = await this.db.rows('SELECT o.item_key FROM offered_keys o JOIN items i ON o.item_key = i.item_key');
    await this.db.run('DELETE FROM offered_keys');
    const kept = new Set(reviewed.map((row) => row[0] as string));
    const texts = this.texts!;
    for (const [key, text] of offered) {
      // The writer keeps each item's smallest meta_row.
      const metaRow = this.textPrecedence === 'first' ? this.textRecords++ : -this.textRecords++;
      if (!kept.has(key)) continue;
      const t = text();
      texts.appendVarchar(key);
      texts.appendInteger(metaRow);
      appendNullable(texts, t.asin);
      texts.appendVarchar(t.title);
      texts.appendVarchar(t.description);
      texts.appendVarchar(t.brand);
      texts.appendVarchar(t.categories);
      if (t.price === null) texts.appendNull();
      else texts.appendDouble(t.price);
      texts.endRow();
    }
  }
}

function appendNullable(appender: Appender, value: string | null): void {
  if (value === null) appender.appendNull();
  else appender.appendVarchar(value);
}
