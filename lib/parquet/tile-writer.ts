import fs from 'node:fs';
import { ParquetWriter } from 'hyparquet-writer';
import { compress as zstdCompress, init as initZstd } from '@bokuweb/zstd-wasm';
import { HashingFileWriter } from './hashing-file-writer.ts';

export type TileCodec = 'SNAPPY' | 'ZSTD';

/** The vectors file's codec, which shards are written in too, so compaction only copies them. */
export const FINAL_CODEC = 'ZSTD' as const;

let zstdReady: Promise<void> | undefined;

/**
 * ZSTD comes from a WebAssembly build of the reference library. It is instantiated once per
 * process: a second init() replaces the module under earlier callers and corrupts their output.
 */
export function loadZstd(): Promise<void> {
  zstdReady ??= initZstd();
  return zstdReady;
}

/**
 * The tile-vector row schema (same as the notebook's pyarrow schema): i int32, vector
 * fixed-size binary (channels × 4 bytes, float32 LE), target int32 and file string
 * (both dictionary-encoded), x, y int32.
 *
 * Written with hyparquet-writer: measured here at ~214k rows/s against parquetjs-lite's 12–16k,
 * and parquetjs-lite cannot write dictionary pages at all (see README).
 */
export function tileSchema(channels: number) {
  return [
    { name: 'schema', num_children: 6 },
    { name: 'i', type: 'INT32' as const, repetition_type: 'REQUIRED' as const },
    { name: 'vector', type: 'FIXED_LEN_BYTE_ARRAY' as const, type_length: channels * 4, repetition_type: 'REQUIRED' as const },
    { name: 'target', type: 'INT32' as const, repetition_type: 'REQUIRED' as const },
    { name: 'file', type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const, repetition_type: 'REQUIRED' as const },
    { name: 'x', type: 'INT32' as const, repetition_type: 'REQUIRED' as const },
    { name: 'y', type: 'INT32' as const, repetition_type: 'REQUIRED' as const },
  ];
}

export interface TileRows {
  i: Int32Array;
  /** One view of `channels * 4` bytes per row. */
  vector: Uint8Array[];
  target: Int32Array;
  file: string[];
  x: Int32Array;
  y: Int32Array;
}

/** Empty columns for `rows` rows. */
export function allocateTileRows(rows: number): TileRows {
  return {
    i: new Int32Array(rows),
    vector: new Array<Uint8Array>(rows),
    target: new Int32Array(rows),
    file: new Array<string>(rows),
    x: new Int32Array(rows),
    y: new Int32Array(rows),
  };
}

/**
 * Streams tile rows into one Parquet file, buffering a whole row group before each write
 * (hyparquet-writer turns every write() call into its own row group(s)).
 */
export class TileParquetWriter {
  private readonly writer: ParquetWriter;
  private readonly output: HashingFileWriter;
  private readonly buffer: { i: number[]; vector: Uint8Array[]; target: number[]; file: string[]; x: number[]; y: number[] };
  private rows = 0;
  private readonly vectorCodec: 'UNCOMPRESSED' | 'ZSTD';

  constructor(
    readonly filePath: string,
    readonly channels: number,
    private readonly rowGroupRows = 16_384,
    codec: TileCodec = 'SNAPPY',
  ) {
    this.vectorCodec = codec === 'SNAPPY' ? 'UNCOMPRESSED' : codec;
    this.output = new HashingFileWriter(filePath);
    this.writer = new ParquetWriter({
      writer: this.output,
      schema: tileSchema(channels),
      codec,
      // Level 1: float vectors gain little from harder levels, which cost several times the CPU.
      compressors: codec === 'ZSTD' ? { ZSTD: (input: Uint8Array) => zstdCompress(input, 1) } : undefined,
      createdBy: 'tessera',
    });
    this.buffer = { i: [], vector: [], target: [], file: [], x: [], y: [] };
  }

  get rowCount(): number {
    return this.rows;
  }

  /**
   * hyparquet-writer types write() and finish() as `void | Promise<void>` (synchronous today):
   * every call here is awaited, so a future asynchronous version cannot reorder or lose a write.
   */
  async append(rows: TileRows): Promise<void> {
    const b = this.buffer;
    for (let k = 0; k < rows.i.length; k++) {
      const vector = rows.vector[k]!;
      if (vector.byteLength !== this.channels * 4) {
        throw new Error(`vector of ${vector.byteLength} bytes, expected ${this.channels * 4}`);
      }
      b.i.push(rows.i[k]!);
      b.vector.push(vector);
      b.target.push(rows.target[k]!);
      b.file.push(rows.file[k]!);
      b.x.push(rows.x[k]!);
      b.y.push(rows.y[k]!);
      this.rows++;
      if (b.i.length >= this.rowGroupRows) await this.flushRowGroup();
    }
  }

  /**
   * Writes the footer and fsyncs, so a rename after this publishes a complete file. Returns the
   * file's sha256, hashed as it was written.
   */
  async close(): Promise<string> {
    await this.flushRowGroup();
    await this.writer.finish();
    return this.output.close();
  }

  /** Gives up on the file: closes it and removes it, so no half-written file is left behind. */
  async abort(): Promise<void> {
    try {
      await this.writer.finish();
    } catch {
      // the file is being removed anyway
    }
    this.output.release();
    fs.rmSync(this.filePath, { force: true });
  }

  private async flushRowGroup(): Promise<void> {
    const b = this.buffer;
    if (b.i.length === 0) return;
    await this.writer.write({
      rowGroupSize: b.i.length,
      columnData: [
        // No page indexes: they would point into this file, and row groups are copied into others.
        { name: 'i', data: Int32Array.from(b.i), encoding: 'DELTA_BINARY_PACKED', offsetIndex: false },
        // Feature vectors barely compress (a shard shrank by <1% with SNAPPY) while JS SNAPPY cut
        // the writer from ~325k to ~60k rows/s here: shards store them uncompressed. Min/max
        // statistics of binary vectors mean nothing, and cost a 1,280-byte compare per row.
        { name: 'vector', data: b.vector, encoding: 'PLAIN', statistics: false, codec: this.vectorCodec, offsetIndex: false },
        { name: 'target', data: Int32Array.from(b.target), encoding: 'RLE_DICTIONARY', offsetIndex: false },
        { name: 'file', data: b.file, encoding: 'RLE_DICTIONARY', offsetIndex: false },
        { name: 'x', data: Int32Array.from(b.x), offsetIndex: false },
        { name: 'y', data: Int32Array.from(b.y), offsetIndex: false },
      ],
    });
    this.buffer.i = [];
    this.buffer.vector = [];
    this.buffer.target = [];
    this.buffer.file = [];
    this.buffer.x = [];
    this.buffer.y = [];
  }
}
