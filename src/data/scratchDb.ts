/**
 * The scratch SQL engine of ingestion: a DuckDB database file in the ingestion's scratch
 * directory, with a fixed memory limit and the directory beside it for spilling. Dedupe, k-core and
 * ordering of tens of millions of reviews then run in bounded memory (DuckDB sorts, joins and
 * aggregates out of core), and the JS side only ever holds one batch of rows: big results come back
 * through files (`export`), small ones as rows. The only module that imports DuckDB.
 */
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBAppender, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';

/**
 * DuckDB's memory limit. Measured with bench/ingest (2 threads): 64 MB runs out of memory at 2-4M
 * reviews, 128 MB completes 4M; 160 MB leaves headroom. Above it the pool only holds more of the
 * data, which speeds nothing up: the JS side (parsing, encoding) is the bottleneck.
 */
export const SCRATCH_MEMORY_LIMIT = '160MB';
export const SCRATCH_THREADS = 2;

export type Appender = DuckDBAppender;

export class ScratchDb {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly dir: string,
  ) {}

  /** Opens a fresh database in `dir` (which must exist and is removed by the caller). */
  static async open(dir: string): Promise<ScratchDb> {
    const instance = await DuckDBInstance.create(join(dir, 'scratch.duckdb'), {
      memory_limit: SCRATCH_MEMORY_LIMIT,
      // Fixed, not per machine: DuckDB's working memory grows with its threads, and the JS side
      // (parsing, encoding) is the bottleneck anyway.
      threads: String(SCRATCH_THREADS),
      temp_directory: join(dir, 'spill'),
      // Every read that needs an order says so; without this DuckDB may buffer to keep one.
      preserve_insertion_order: 'false',
      // Hand freed memory back to the system soon (default: after 128 MB), so that the process's
      // RSS follows the limit instead of the largest step's peak.
      allocator_flush_threshold: '8MB',
      allocator_background_threads: 'true',
    });
    return new ScratchDb(instance, await instance.connect(), dir);
  }

  /** Runs statements; returns the rows the last one changed (DELETE, INSERT). */
  async run(sql: string, params?: DuckDBValue[]): Promise<number> {
    const result = await this.connection.run(sql, params);
    return result.rowsChanged;
  }

  /** The rows of a small query, as JS values (BIGINT as bigint). */
  async rows(sql: string, params?: DuckDBValue[]): Promise<DuckDBValue[][]> {
    const reader = await this.connection.runAndReadAll(sql, params);
    return reader.getRows();
  }

  /** One number from a query that returns a single value (counts, flags). */
  async number(sql: string, params?: DuckDBValue[]): Promise<number> {
    const value = (await this.rows(sql, params))[0]?.[0];
    if (value === null || value === undefined) return 0;
    return typeof value === 'boolean' ? Number(value) : Number(value as number | bigint);
  }

  /**
   * Writes a query's rows, in its order, to `name` in the scratch directory: CSV without a header,
   * or JSON lines (for strings of any content). Large results leave DuckDB this way and are read
   * back as text: the engine writes them within its memory limit, whereas result chunks handed to
   * JS hold native memory until the JS garbage collector happens to finalize them.
   */
  async export(name: string, sql: string, format: 'csv' | 'json'): Promise<string> {
    const path = join(this.dir, name);
    await this.run(`COPY (${sql}) TO '${path.replaceAll("'", "''")}' (${format === 'csv' ? 'FORMAT csv, HEADER false' : 'FORMAT json'})`);
    return path;
  }

  async appender(table: string): Promise<Appender> {
    return this.connection.createAppender(table);
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
