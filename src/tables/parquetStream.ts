/**
 * A Parquet file written batch by batch, for tables too large to hold whole (ingestion of millions
 * of reviews). parquet-wasm's `transformParquetStream` encodes a stream of record batches with the
 * same parquet-rs writer as `writeParquet` (src/tables/parquet.ts) and emits the bytes a row group
 * at a time, so memory holds one batch and one row group, not the table.
 *
 * Same bytes as `writeParquet`: a table written here as one batch gives exactly the file
 * `writeParquet` writes for it (checked by test/unit/parquetStream.test.ts), and so does a flat
 * table of fixed-width columns split into batches of a multiple of 1024 rows. Variable-width and
 * list columns split into several batches may end their data pages elsewhere (the same rows and
 * values, other byte offsets).
 *
 * Two quirks of parquet-wasm 0.8 shape this class: the transform waits for the first batch before
 * it returns (so the encoder starts at the first `write`), and it drops errors raised while
 * encoding (so `close` checks that the file ends in a Parquet footer).
 */
import { open, type FileHandle } from 'node:fs/promises';
import * as arrow from 'apache-arrow';
import {
  Compression,
  type RecordBatch,
  Table as WasmTable,
  type WriterProperties,
  WriterPropertiesBuilder,
  transformParquetStream,
  writeParquet as wasmWriteParquet,
} from 'parquet-wasm';

export interface ParquetStreamOptions {
  /** Rows per row group; parquet-rs default 1M (1,048,576). */
  rowGroupSize?: number;
}

const MAGIC = Buffer.from('PAR1');

export class ParquetStreamWriter {
  private handle: FileHandle | undefined;
  /** Hands the encoder its next batch (null: end of input); set while the encoder waits for one. */
  private handOver: ((batch: RecordBatch | null) => void) | undefined;
  private wakeWriter: (() => void) | undefined;
  private drained: Promise<void> | undefined;
  private rows = 0;

  private constructor(
    private readonly path: string,
    private readonly schema: arrow.Schema,
    private readonly opts: ParquetStreamOptions,
  ) {}

  /** Creates `path` (which must not exist); nothing is encoded until the first batch. */
  static async create(path: string, schema: arrow.Schema, opts: ParquetStreamOptions = {}): Promise<ParquetStreamWriter> {
    const writer = new ParquetStreamWriter(path, schema, opts);
    writer.handle = await open(path, 'wx+');
    return writer;
  }

  get rowsWritten(): number {
    return this.rows;
  }

  /** Appends the rows of `table` (its schema must be the writer's); resolves once the encoder has them. */
  async write(table: arrow.Table): Promise<void> {
    if (table.numRows === 0) return;
    if (schemaText(table.schema) !== schemaText(this.schema)) throw new Error(`${this.path}: a batch's schema differs from the file's`);
    const wasmTable = WasmTable.fromIPCStream(arrow.tableToIPC(table, 'stream'));
    const batches = wasmTable.recordBatches();
    wasmTable.free();
    for (const batch of batches) await this.give(batch);
    this.rows += table.numRows;
  }

  /** Ends the file: the footer is written and the file synced and closed. */
  async close(): Promise<void> {
    const handle = this.handle!;
    try {
      if (this.drained === undefined) {
        // No rows: the streaming encoder never started (it needs a first batch); encode the empty table at once.
        await handle.writeFile(wasmWriteParquet(WasmTable.fromIPCStream(arrow.tableToIPC(new arrow.Table(this.schema), 'stream')), this.properties()));
      } else {
        await this.give(null);
        await this.drained;
      }
      const { size } = await handle.stat();
      const tail = Buffer.alloc(4);
      if (size >= 12) await handle.read(tail, 0, 4, size - 4);
      if (!tail.equals(MAGIC)) throw new Error(`${this.path}: the Parquet encoder stopped before the footer`);
      await handle.sync();
    } finally {
      await handle.close();
      this.handle = undefined;
    }
  }

  /** Stops without a valid file (the caller removes it). */
  async abort(): Promise<void> {
    this.handOver?.(null);
    await this.drained?.catch(() => undefined);
    await this.handle?.close();
    this.handle = undefined;
  }

  private properties(): WriterProperties {
    let props = new WriterPropertiesBuilder().setCompression(Compression.ZSTD);
    if (this.opts.rowGroupSize !== undefined) props = props.setMaxRowGroupSize(this.opts.rowGroupSize);
    return props.build();
  }

  private start(): void {
    const input = new ReadableStream<RecordBatch>(
      {
        pull: (controller) =>
          new Promise<void>((resolve) => {
            this.handOver = (batch) => {
              if (batch) controller.enqueue(batch);
              else controller.close();
              resolve();
            };
            this.wakeWriter?.();
          }),
      },
      { highWaterMark: 0 },
    );
    const handle = this.handle!;
    this.drained = (async () => {
      const output = (await transformParquetStream(input, this.properties())) as ReadableStream<Uint8Array>;
      for await (const bytes of output as unknown as AsyncIterable<Uint8Array>) {
        for (let at = 0; at < bytes.length; ) at += (await handle.write(bytes, at)).bytesWritten;
      }
    })();
    // A failure surfaces through `give` (which races it) and `close`; never unhandled.
    this.drained.catch(() => undefined);
  }

  /** Waits until the encoder asks for a batch, then hands it `batch`. */
  private async give(batch: RecordBatch | null): Promise<void> {
    if (this.drained === undefined) this.start();
    while (this.handOver === undefined) {
      await Promise.race([new Promise<void>((resolve) => (this.wakeWriter = resolve)), this.drained!.then(() => Promise.reject(new Error(`${this.path}: the Parquet encoder ended early`)))]);
    }
    const handOver = this.handOver;
    this.handOver = undefined;
    this.wakeWriter = undefined;
    handOver(batch);
  }
}

const schemaText = (schema: arrow.Schema) => schema.fields.map((f) => `${f.name}:${String(f.type)}`).join(',');
