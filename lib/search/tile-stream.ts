import fs from 'node:fs/promises';
import {
  parquetMetadataAsync,
  parquetRead,
  type AsyncBuffer,
  type ColumnMetaData,
  type FileMetaData,
  type PageHeader,
} from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { decompressPage } from 'hyparquet/src/datapage.js';
import { readAt } from '../core/read-at.ts';
import { parquetCompressors } from '../parquet/tile-writer.ts';

/**
 * A vectors file read page by page: the vector column's pages one at a time (a page per image in
 * what tessera writes, 82 KB at the default model), with the row group's small columns (i, target,
 * file) read once per row group. Memory stays at one page of vectors plus a row group's keys, so
 * an index over millions of tiles is built without holding them.
 */
export interface TilePage {
  /** Each row's `i`, target, file and grid cell. */
  keys: Int32Array;
  targets: Int32Array;
  files: string[];
  xs: Int32Array;
  ys: Int32Array;
  /** The rows' vectors, float32, `dimensions` per row, back to back. */
  vectors: Float32Array;
  dimensions: number;
}

export class VectorLayoutError extends Error {
  override name = 'VectorLayoutError';
}

type Compressors = Awaited<ReturnType<typeof parquetCompressors>>;

function fileBuffer(handle: fs.FileHandle, file: string, size: number): AsyncBuffer {
  return {
    byteLength: size,
    slice: async (start: number, end = size) => (await readAt(handle, start, end - start, file)).buffer,
  };
}

/** The footer and the vector width (bytes) of a tile-vectors file. */
export async function vectorsFooter(file: string): Promise<{ metadata: FileMetaData; width: number; rows: number }> {
  const handle = await fs.open(file, 'r');
  try {
    const metadata = await parquetMetadataAsync(fileBuffer(handle, file, (await handle.stat()).size));
    const element = metadata.schema.find((e) => e.name === 'vector');
    if (element?.type !== 'FIXED_LEN_BYTE_ARRAY' || !element.type_length || element.type_length % 4 !== 0)
      throw new VectorLayoutError(`${file}: no fixed-size float32 vector column`);
    return { metadata, width: element.type_length, rows: Number(metadata.num_rows) };
  } finally {
    await handle.close();
  }
}

/** Every tile of `file`, in file order, one vector page at a time. */
export async function* streamTilePages(file: string): AsyncGenerator<TilePage> {
  const { metadata, width } = await vectorsFooter(file);
  const compressors = await parquetCompressors();
  const handle = await fs.open(file, 'r');
  try {
    const buffer = fileBuffer(handle, file, (await handle.stat()).size);
    let groupStart = 0;
    for (const group of metadata.row_groups) {
      const rows = Number(group.num_rows);
      const small = await readSmallColumns(buffer, metadata, groupStart, rows, compressors);
      const vector = group.columns.find((c) => c.meta_data?.path_in_schema.join('.') === 'vector')?.meta_data;
      if (!vector) throw new VectorLayoutError(`${file}: a row group without a vector column`);
      let row = 0;
      for await (const values of vectorPages(handle, file, vector, width, compressors)) {
        const count = values.byteLength / width;
        // A view where the page's bytes start at a multiple of 4 (a decompressed page does), else a copy.
        const vectors =
          values.byteOffset % 4 === 0
            ? new Float32Array(values.buffer, values.byteOffset, count * (width / 4))
            : new Float32Array(values.slice().buffer);
        yield {
          keys: small.i.subarray(row, row + count),
          targets: small.target.subarray(row, row + count),
          files: small.file.slice(row, row + count),
          xs: small.x.subarray(row, row + count),
          ys: small.y.subarray(row, row + count),
          vectors,
          dimensions: width / 4,
        };
        row += count;
      }
      if (row !== rows) throw new VectorLayoutError(`${file}: a row group of ${rows} rows holds ${row} vectors`);
      groupStart += rows;
    }
  } finally {
    await handle.close();
  }
}

async function readSmallColumns(
  file: AsyncBuffer,
  metadata: FileMetaData,
  rowStart: number,
  rows: number,
  compressors: Compressors,
): Promise<{ i: Int32Array; target: Int32Array; file: string[]; x: Int32Array; y: Int32Array }> {
  const ints = {
    i: new Int32Array(rows),
    target: new Int32Array(rows),
    x: new Int32Array(rows),
    y: new Int32Array(rows),
  };
  const files: string[] = new Array<string>(rows);
  await parquetRead({
    file,
    metadata,
    columns: ['i', 'target', 'file', 'x', 'y'],
    rowStart,
    rowEnd: rowStart + rows,
    compressors,
    onChunk: ({ columnName, columnData, rowStart: at }) => {
      const offset = at - rowStart;
      const data = columnData as ArrayLike<unknown>;
      const into = columnName === 'file' ? undefined : ints[columnName as keyof typeof ints];
      for (let k = 0; k < data.length && offset + k < rows; k++) {
        if (into) into[offset + k] = Number(data[k]);
        else files[offset + k] = String(data[k]);
      }
    },
  });
  return { ...ints, file: files };
}

/** Bytes read ahead at once from a column chunk: a page per image is 20 KB compressed here. */
const READ_AHEAD = 4 << 20;

/**
 * A column chunk read forward in windows of READ_AHEAD bytes: a page's header and body come from
 * memory, not from two reads each (1,190 pages of flowers17-256 were 2,380 trips through libuv's
 * pool). The bytes returned are views of a window that is never written again.
 */
class ForwardReader {
  private window = new Uint8Array(0);
  private start = 0;

  constructor(
    private readonly handle: fs.FileHandle,
    private readonly file: string,
    private readonly end: number,
  ) {}

  async bytes(offset: number, length: number): Promise<Uint8Array> {
    if (offset < this.start || offset + length > this.start + this.window.byteLength) {
      this.window = await readAt(
        this.handle,
        offset,
        Math.min(Math.max(READ_AHEAD, length), this.end - offset),
        this.file,
      );
      this.start = offset;
    }
    return this.window.subarray(offset - this.start, offset - this.start + length);
  }
}

/**
 * The decoded values of each data page of a vector column chunk, read header by header (a page's
 * header says how long it is, so no more than a window of the chunk is held). PLAIN pages v1 or
 * v2 without nulls, as every tessera version and plain writers lay out fixed-size vectors.
 */
async function* vectorPages(
  handle: fs.FileHandle,
  file: string,
  column: ColumnMetaData,
  width: number,
  compressors: Compressors,
): AsyncGenerator<Uint8Array> {
  if (column.dictionary_page_offset !== undefined && column.dictionary_page_offset > 0n)
    throw new VectorLayoutError(`${file}: dictionary-encoded vectors`);
  let offset = Number(column.data_page_offset);
  const end = offset + Number(column.total_compressed_size);
  const reader = new ForwardReader(handle, file, end);
  while (offset < end) {
    const { header, length } = await pageHeader(reader, offset, end);
    const body = await reader.bytes(offset + length, header.compressed_page_size);
    offset += length + header.compressed_page_size;
    if (header.type !== 'DATA_PAGE' && header.type !== 'DATA_PAGE_V2')
      throw new VectorLayoutError(`${file}: a ${header.type} page in the vector column`);
    const v2 = header.data_page_header_v2;
    const encoding = v2?.encoding ?? header.data_page_header?.encoding;
    if (encoding !== 'PLAIN') throw new VectorLayoutError(`${file}: vectors encoded ${encoding}`);
    const rows = v2?.num_values ?? header.data_page_header?.num_values ?? 0;
    let plain: Uint8Array;
    if (v2) {
      const levels = v2.definition_levels_byte_length + v2.repetition_levels_byte_length;
      if (v2.num_nulls) throw new VectorLayoutError(`${file}: null vectors`);
      plain =
        v2.is_compressed === false
          ? body.subarray(levels)
          : decompressPage(body.subarray(levels), header.uncompressed_page_size - levels, column.codec, compressors);
    } else {
      plain = decompressPage(body, header.uncompressed_page_size, column.codec, compressors);
    }
    // A nullable v1 page starts with its definition levels: the values are the last rows × width bytes.
    yield plain.subarray(plain.byteLength - rows * width);
  }
}

async function pageHeader(
  chunk: ForwardReader,
  offset: number,
  end: number,
): Promise<{ header: PageHeader; length: number }> {
  for (let guess = 256; ; guess *= 16) {
    const bytes = await chunk.bytes(offset, Math.min(guess, end - offset));
    const thrift = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
    try {
      return { header: parquetHeader(thrift), length: thrift.offset };
    } catch (error) {
      if (!(error instanceof RangeError) || bytes.byteLength >= end - offset) throw error;
    }
  }
}
