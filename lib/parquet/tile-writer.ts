import fs from 'node:fs';
import type { ColumnChunk, CompressionCodec, DecodedArray, SchemaElement } from 'hyparquet';
import { ParquetWriter } from 'hyparquet-writer';
import { writeColumn } from 'hyparquet-writer/src/column.js';
import { writePageHeader } from 'hyparquet-writer/src/datapage.js';
import { compress as zstdCompress, decompress as zstdDecompress, init as initZstd } from '@bokuweb/zstd-wasm';
import { HashingFileWriter } from './hashing-file-writer.ts';
import { PageArena, ZstdPageCompressor } from './vector-pages.ts';

export type TileCodec = 'SNAPPY' | 'ZSTD';

/** The vectors file's codec, which shards are written in too, so compaction only copies them. */
export const FINAL_CODEC = 'ZSTD' as const;

/** Level 1: float vectors gain little from harder levels, which cost several times the CPU. */
const ZSTD_LEVEL = 1;

let zstdReady: Promise<void> | undefined;

/**
 * ZSTD comes from a WebAssembly build of the reference library. It is instantiated once per
 * process: a second init() replaces the module under earlier callers and corrupts their output.
 */
export function loadZstd(): Promise<void> {
  zstdReady ??= initZstd();
  return zstdReady;
}

/** hyparquet's decompressors, with ZSTD (the codec of vectors.parquet) from the same WebAssembly build that writes it. */
export async function parquetCompressors(): Promise<
  Record<string, (input: Uint8Array, outputLength: number) => Uint8Array>
> {
  await loadZstd();
  return { ZSTD: (input: Uint8Array) => zstdDecompress(input) };
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
    {
      name: 'vector',
      type: 'FIXED_LEN_BYTE_ARRAY' as const,
      type_length: channels * 4,
      repetition_type: 'REQUIRED' as const,
    },
    { name: 'target', type: 'INT32' as const, repetition_type: 'REQUIRED' as const },
    {
      name: 'file',
      type: 'BYTE_ARRAY' as const,
      converted_type: 'UTF8' as const,
      repetition_type: 'REQUIRED' as const,
    },
    { name: 'x', type: 'INT32' as const, repetition_type: 'REQUIRED' as const },
    { name: 'y', type: 'INT32' as const, repetition_type: 'REQUIRED' as const },
  ];
}

/**
 * One image's vectors as a data page of the vector column, as this writer stores it: a Parquet
 * data page v2, PLAIN, no levels, `data` compressed with `codec`. Written by one writer and
 * copied into another file byte for byte, with no decompression or compression in between.
 */
export interface EncodedVectorPage {
  codec: CompressionCodec;
  rows: number;
  /** The PLAIN bytes' length (rows × vector width). */
  uncompressedSize: number;
  data: Uint8Array;
}

export interface TileRows {
  i: Int32Array;
  /** One view of `channels * 4` bytes per row; COPIED_PAGE for rows a copied page holds. */
  vector: Uint8Array[];
  target: Int32Array;
  file: string[];
  x: Int32Array;
  y: Int32Array;
  /** Pages whose vectors are copied as they are, by the row they start at (in these rows). */
  copiedPages?: Map<number, EncodedVectorPage>;
}

/** The vector of a row whose page is copied (`TileRows.copiedPages`): it is never read. */
export const COPIED_PAGE = new Uint8Array(0);

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

/** Row groups of about this many rows, rounded down to whole images. */
const ROW_GROUP_ROWS = 16_384;

/**
 * Streams tile rows into one Parquet file, buffering a whole row group before each write.
 *
 * The vector column holds one page per image (`rowsPerPage` rows, the image's tiles), so an
 * image's vectors can later be copied into another file as the very bytes this writer would
 * have produced (reuse across runs: `lib/reuse/`). Row groups hold whole images, as long as
 * the rows come as whole images (tessera's do); a copied page must start where a page starts.
 */
export class TileParquetWriter {
  private readonly writer: ParquetWriter;
  private readonly output: HashingFileWriter;
  /** The row group being gathered; `pages` holds its vector pages already encoded (or copied), by first row. */
  private readonly buffer: {
    i: number[];
    vector: Uint8Array[];
    target: number[];
    file: string[];
    x: number[];
    y: number[];
    pages: Map<number, EncodedVectorPage>;
    copied: Set<number>;
  };
  private readonly compressor: ZstdPageCompressor | undefined;
  private readonly arena = new PageArena();
  private rows = 0;
  private readonly rowGroupRows: number;
  private readonly codec: TileCodec;
  private readonly vectorCodec: 'UNCOMPRESSED' | 'ZSTD';
  private readonly width: number;

  constructor(
    readonly filePath: string,
    readonly channels: number,
    readonly rowsPerPage: number,
    codec: TileCodec = 'SNAPPY',
    rowGroupRows = ROW_GROUP_ROWS,
  ) {
    if (!Number.isInteger(rowsPerPage) || rowsPerPage < 1)
      throw new Error(`rowsPerPage must be a positive integer, not ${rowsPerPage}`);
    this.codec = codec;
    this.vectorCodec = codec === 'SNAPPY' ? 'UNCOMPRESSED' : codec;
    this.width = channels * 4;
    this.rowGroupRows = Math.max(1, Math.floor(rowGroupRows / rowsPerPage)) * rowsPerPage;
    this.output = new HashingFileWriter(filePath);
    this.writer = new ParquetWriter({
      writer: this.output,
      schema: tileSchema(channels),
      codec,
      compressors: codec === 'ZSTD' ? { ZSTD: compressZstd } : undefined,
      createdBy: 'tessera',
    });
    this.buffer = { i: [], vector: [], target: [], file: [], x: [], y: [], pages: new Map(), copied: new Set() };
    this.compressor = this.vectorCodec === 'ZSTD' ? new ZstdPageCompressor(ZSTD_LEVEL) : undefined;
  }

  get rowCount(): number {
    return this.rows;
  }

  /**
   * Adds rows. Their vectors are not kept once this resolves (whole pages are encoded here, the
   * rest copied), so the caller may reuse the buffers they view. hyparquet-writer types its writes
   * as `void | Promise<void>`: every call here is awaited.
   */
  async append(rows: TileRows): Promise<void> {
    const b = this.buffer;
    for (let k = 0; k < rows.i.length; k++) {
      const page = b.i.length - (b.i.length % this.rowsPerPage); // the first row of this row's page
      const pageStart = page === b.i.length;
      const copied = rows.copiedPages?.get(k);
      if (copied) {
        if (!pageStart) throw new Error(`a copied vector page would start inside a page of ${this.rowsPerPage} rows`);
        if (
          copied.codec !== this.vectorCodec ||
          copied.rows !== this.rowsPerPage ||
          copied.uncompressedSize !== this.rowsPerPage * this.width
        ) {
          throw new Error(
            `a copied vector page (${copied.codec}, ${copied.rows} rows, ${copied.uncompressedSize} bytes) ` +
              `does not fit this file (${this.vectorCodec}, ${this.rowsPerPage} rows of ${this.width} bytes)`,
          );
        }
        b.pages.set(b.i.length, copied);
        b.copied.add(b.i.length);
      }
      const vector = rows.vector[k]!;
      const inCopiedPage = b.copied.has(page);
      if (inCopiedPage !== (vector === COPIED_PAGE))
        throw new Error(
          inCopiedPage
            ? 'a row of a copied vector page has a vector of its own'
            : 'a row marked as copied has no copied page',
        );
      if (!inCopiedPage && vector.byteLength !== this.width)
        throw new Error(`vector of ${vector.byteLength} bytes, expected ${this.width}`);
      if (!inCopiedPage && pageStart && !b.pages.has(page) && this.wholePageAt(rows, k))
        b.pages.set(page, this.encodePage(rows.vector, k, k + this.rowsPerPage));
      const encoded = inCopiedPage || b.pages.has(page);
      b.i.push(rows.i[k]!);
      // A row of an encoded page keeps no view; a row of a page still open keeps a copy.
      b.vector.push(encoded ? COPIED_PAGE : vector.slice());
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
    try {
      await this.flushRowGroup();
      await this.writer.finish();
    } finally {
      this.compressor?.release();
    }
    return this.output.close();
  }

  /** Gives up on the file: closes it and removes it, so no half-written file is left behind. */
  async abort(): Promise<void> {
    try {
      await this.writer.finish();
    } catch {
      // the file is being removed anyway
    }
    this.compressor?.release();
    this.output.release();
    fs.rmSync(this.filePath, { force: true });
  }

  /** One row group: the columns in schema order, the vector column written page by page here. */
  private async flushRowGroup(): Promise<void> {
    const b = this.buffer;
    const rows = b.i.length;
    if (rows === 0) return;
    const start = this.output.offset;
    const columns = [
      // No page indexes: they would point into this file, and row groups are copied into others.
      this.writeSmallColumn(1, Int32Array.from(b.i), 'DELTA_BINARY_PACKED'),
      this.writeVectorColumn(),
      this.writeSmallColumn(3, Int32Array.from(b.target), 'RLE_DICTIONARY'),
      this.writeSmallColumn(4, b.file, 'RLE_DICTIONARY'),
      this.writeSmallColumn(5, Int32Array.from(b.x)),
      this.writeSmallColumn(6, Int32Array.from(b.y)),
    ];
    this.writer.row_groups.push({
      columns,
      total_byte_size: columns.reduce((sum, column) => sum + (column.meta_data?.total_uncompressed_size ?? 0n), 0n),
      num_rows: BigInt(rows),
      total_compressed_size: BigInt(this.output.offset - start),
    });
    this.writer.num_rows += BigInt(rows);
    this.buffer.i = [];
    this.buffer.vector = [];
    this.buffer.target = [];
    this.buffer.file = [];
    this.buffer.x = [];
    this.buffer.y = [];
    this.buffer.pages = new Map();
    this.buffer.copied = new Set();
    this.arena.reset();
  }

  /** Whether rows k…k+rowsPerPage−1 of `rows` are all there and none is copied: a page to encode now. */
  private wholePageAt(rows: TileRows, k: number): boolean {
    if (k + this.rowsPerPage > rows.i.length) return false;
    for (let r = k; r < k + this.rowsPerPage; r++)
      if (rows.vector[r] === COPIED_PAGE || rows.vector[r]!.byteLength !== this.width) return false;
    return true;
  }

  private writeSmallColumn(
    index: number,
    values: DecodedArray,
    encoding?: 'DELTA_BINARY_PACKED' | 'RLE_DICTIONARY',
  ): ColumnChunk {
    const root = this.writer.schema[0]!;
    const element = this.writer.schema[index]!;
    return writeColumn({
      writer: this.output,
      column: {
        columnName: element.name,
        element,
        schemaPath: [root, element],
        codec: this.codec,
        compressors: this.writer.compressors,
        stats: true,
        pageSize: 1 << 20,
        columnIndex: false,
        offsetIndex: false,
        encoding,
      },
      pageData: { values, definitionLevels: [], repetitionLevels: [], maxDefinitionLevel: 0 },
    }).chunk;
  }

  /**
   * The vector column: a data page per image, PLAIN (vectors barely compress: a shard shrank by
   * <1% with SNAPPY, so `SNAPPY` files store them uncompressed), no statistics (min/max of binary
   * vectors mean nothing). A copied page is written as it came.
   */
  private writeVectorColumn(): ColumnChunk {
    const b = this.buffer;
    const element: SchemaElement = this.writer.schema[2]!;
    const start = this.output.offset;
    let uncompressed = 0;
    for (let first = 0; first < b.i.length; first += this.rowsPerPage) {
      const headerStart = this.output.offset;
      const page =
        b.pages.get(first) ?? this.encodePage(b.vector, first, Math.min(first + this.rowsPerPage, b.i.length));
      writePageHeader(this.output, {
        type: 'DATA_PAGE_V2',
        uncompressed_page_size: page.uncompressedSize,
        compressed_page_size: page.data.byteLength,
        data_page_header_v2: {
          num_values: page.rows,
          num_nulls: 0,
          num_rows: page.rows,
          encoding: 'PLAIN',
          definition_levels_byte_length: 0,
          repetition_levels_byte_length: 0,
          is_compressed: true,
        },
      });
      uncompressed += this.output.offset - headerStart + page.uncompressedSize;
      this.output.appendBytes(page.data);
    }
    return {
      file_offset: BigInt(start),
      meta_data: {
        type: 'FIXED_LEN_BYTE_ARRAY',
        encodings: ['PLAIN'],
        path_in_schema: [element.name],
        codec: this.vectorCodec,
        num_values: BigInt(b.i.length),
        total_compressed_size: BigInt(this.output.offset - start),
        total_uncompressed_size: BigInt(uncompressed),
        data_page_offset: BigInt(start),
      },
    };
  }

  /** Rows from…to−1 as one page, its bytes kept in the arena until the row group is written. */
  private encodePage(vectors: readonly Uint8Array[], from: number, to: number): EncodedVectorPage {
    const data = this.compressor
      ? this.arena.copy(this.compressor.compressRows(vectors, from, to, this.width))
      : this.arena.gather(vectors, from, to, this.width);
    return { codec: this.vectorCodec, rows: to - from, uncompressedSize: (to - from) * this.width, data };
  }
}

/** The small columns' pages, compressed as the vector pages are. */
function compressZstd(input: Uint8Array): Uint8Array {
  return zstdCompress(input, ZSTD_LEVEL);
}
