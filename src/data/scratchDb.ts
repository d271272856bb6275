/**
 * The scratch SQL engine of ingestion: a DuckDB database file in the ingestion's scratch
 * directory, with a fixed memory limit and the directory beside it for spilling. Dedupe, k-core and
 * ordering of tens of millions of reviews then run in bounded memory (DuckDB sorts, joins and
 * aggregates out of core), and the JS side only ever holds one batch of rows. The only module that
 * imports DuckDB.
 */
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBAppender, type DuckDBConnection, type DuckDBDataChunk, type DuckDBValue } from '@duckdb/node-api';

/**
 * DuckDB's memory limit. Measured with bench/ingest (2 threads): 64 MB runs out of memory at 2-4M
 * reviews, 128 MB completes 4M; 160 MB leaves headroom. Above it the pool only holds more of the
 * data, which speeds nothing up: the JS side (parsing, encoding) is the bottleneck.
 */
export const SCRATCH_MEMORY_LIMIT = '160MB';
export const SCRATCH_THREADS = 2;

export type Appender = DuckDBAppender;
export type Chunk = DuckDBDataChunk;

export class ScratchDb {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
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
    });
    return new ScratchDb(instance, await instance.connect());
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
   * A query's result chunk by chunk (DuckDB's vector size, 2048 rows), never all at once. Each
   * stream has a connection of its own, so several can be read side by side.
   */
  async *chunks(sql: string, params?: DuckDBValue[]): AsyncGenerator<Chunk> {
    const connection = await this.instance.connect();
    try {
      const result = await connection.stream(sql, params);
      for (;;) {
        const chunk = await result.fetchChunk();
        if (chunk === null || chunk.rowCount === 0) return;
        yield chunk;
      }
    } finally {
      connection.closeSync();
    }
  }

  async appender(table: string): Promise<Appender> {
    return this.connection.createAppender(table);
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
