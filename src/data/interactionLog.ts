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
 *   history_claims (read_order, file, line, earlier, last_earlier)
 *             what a source says precedes a row (benchmark splits with history), checked at the end
 */
import { BadInputError } from '../errors.js';
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
  /** Rows whose source states their history (expectHistory), and the files they came from. */
  private claims: Appender | undefined;
  private claimFiles: string[] = [];

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

  /**
   * The source says how many interactions of this user come before the one just added, and the
   * last of them (null: none). Checked when reading ends, against each user's interactions in
   * time order: a row that disagrees is bad input, named by `at`.
   */
  expectHistory(earlier: number, lastEarlier: string | null, at: { file: string; line: number }): void {
    if (this.claims === undefined) throw new Error('expectHistory before the history table exists; call prepareHistory first');
    let file = this.claimFiles.indexOf(at.file);
    if (file < 0) file = this.claimFiles.push(at.file) - 1;
    this.claims.appendInteger(this.rows - 1);
    this.claims.appendInteger(file);
    this.claims.appendInteger(at.line);
    this.claims.appendInteger(earlier);
    if (lastEarlier === null) this.claims.appendNull();
    else this.claims.appendVarchar(lastEarlier);
    this.claims.endRow();
  }

  /** Makes room for expectHistory (a reader whose source states histories calls this first). */
  async prepareHistory(): Promise<void> {
    if (this.claims !== undefined) return;
    await this.db.run('CREATE TABLE history_claims (read_order INTEGER, file INTEGER, line INTEGER, earlier INTEGER, last_earlier VARCHAR)');
    this.claims = await this.db.appender('history_claims');
  }

  /** Ends reading: everything added is in the tables, and stated histories agree with them. */
  async finish(): Promise<void> {
    await this.keepReviewedTexts();
    this.texts?.closeSync();
    this.texts = undefined;
    await this.checkHistories();
  }

  private async checkHistories(): Promise<void> {
    if (this.claims === undefined) return;
    this.claims.closeSync();
    this.claims = undefined;
    const order = this.hasTimestamps ? 'ts, read_order' : 'read_order';
    const [bad] = await this.db.rows(`
      SELECT c.file, c.line, s.user_key, c.earlier, s.position, c.last_earlier, s.previous
      FROM history_claims c JOIN (
        SELECT read_order, user_key,
               (row_number() OVER (PARTITION BY user_key ORDER BY ${order}) - 1)::INTEGER AS position,
               lag(item_key) OVER (PARTITION BY user_key ORDER BY ${order}) AS previous
        FROM reviews) s USING (read_order)
      WHERE c.earlier <> s.position OR c.last_earlier IS DISTINCT FROM s.previous
      ORDER BY c.file, c.line LIMIT 1`);
    if (bad === undefined) return;
    const [file, line, user, earlier, position, lastEarlier, previous] = bad as [number, number, string, number, number, string | null, string | null];
    const at = { file: this.claimFiles[file]!, line, field: 'history' };
    if (earlier !== position) {
      throw new BadInputError(`the history lists ${earlier} earlier items, but by time this is interaction ${position + 1} of user ${JSON.stringify(user)}`, at);
    }
    throw new BadInputError(
      `the history ends with ${JSON.stringify(lastEarlier)}, but user ${JSON.stringify(user)}'s interaction before this one by time is ${JSON.stringify(previous)}`,
      at,
    );
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
