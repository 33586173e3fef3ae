import fs from 'node:fs/promises';
import type { AsyncBuffer, ColumnMetaData, CompressionCodec, PageHeader, SchemaElement } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { readAt } from '../core/read-at.ts';
import { decompressPage } from 'hyparquet/src/datapage.js';

/**
 * Reading a few pages of a Parquet column chunk without reading the rest of it. A row group of
 * vectors.parquet holds 16,384 rows (21 MB of vectors) in a page per image (82 KB), and it has no
 * page index: a reader such as hyparquet or DuckDB fetches the whole chunk to get any row. Here
 * each page header is read on its own (a few dozen bytes), which says how long the page is and
 * how many rows it holds, so only the pages wanted are read. Every byte read is counted.
 */

/** A file read at offsets, counting the bytes it returned (the report says how many). */
export class CountingFile {
  bytesRead = 0;

  private constructor(
    readonly path: string,
    private readonly handle: fs.FileHandle,
    readonly size: number,
  ) {}

  static async open(file: string): Promise<CountingFile> {
    const handle = await fs.open(file, 'r');
    try {
      return new CountingFile(file, handle, (await handle.stat()).size);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** `length` bytes from `offset` (fewer at the end of the file). */
  async read(offset: number, length: number): Promise<Uint8Array<ArrayBuffer>> {
    const wanted = Math.max(0, Math.min(length, this.size - offset));
    const buffer = await readAt(this.handle, offset, wanted, this.path);
    this.bytesRead += wanted;
    return buffer;
  }

  /** The file as hyparquet reads it, through the same counter. */
  asyncBuffer(): AsyncBuffer {
    return {
      byteLength: this.size,
      slice: async (start: number, end?: number) => {
        const bytes = await this.read(start, (end ?? this.size) - start);
        return bytes.buffer;
      },
    };
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

export interface LeadingPages {
  /** One view per row, each the vector's bytes. */
  values: Uint8Array[];
  pages: number;
}

/** Why the pages cannot be read one by one: the caller then reads the rows another way. */
export class UnsupportedLayout extends Error {
  override name = 'UnsupportedLayout';
}

const HEADER_GUESS = 256;

async function readHeader(
  file: CountingFile,
  offset: number,
  end: number,
): Promise<{ header: PageHeader; length: number }> {
  // A data page header is a few dozen bytes; one with large statistics may be longer.
  for (let guess = HEADER_GUESS; ; guess *= 16) {
    const bytes = await file.read(offset, Math.min(guess, end - offset));
    const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
    try {
      return { header: parquetHeader(reader), length: reader.offset };
    } catch (error) {
      if (!(error instanceof RangeError) || bytes.byteLength >= end - offset) throw error;
    }
  }
}

/**
 * The first rows of a row group's vector column, read page by page from the chunk's start:
 * whole pages are taken while the next one still fits within `maxRows`, and always the first
 * one. Decodes what tessera writes and other writers' plain layouts (DuckDB, pyarrow without
 * dictionary): data pages v1 or v2, PLAIN encoding, no nesting, any codec hyparquet knows.
 * Anything else (a dictionary page, another encoding) throws UnsupportedLayout, found from the
 * page header before the page's body is read.
 */
export async function readLeadingPages(
  file: CountingFile,
  column: ColumnMetaData,
  element: SchemaElement,
  maxRows: number,
  compressors: Record<string, (input: Uint8Array, outputLength: number) => Uint8Array>,
): Promise<LeadingPages> {
  if (column.dictionary_page_offset !== undefined && column.dictionary_page_offset > 0n)
    throw new UnsupportedLayout('the column chunk has a dictionary page');
  if (element.type !== 'FIXED_LEN_BYTE_ARRAY' && element.type !== 'BYTE_ARRAY')
    throw new UnsupportedLayout(`vectors of type ${element.type}`);
  if (element.repetition_type === 'REPEATED') throw new UnsupportedLayout('repeated vectors');
  let offset = Number(column.data_page_offset);
  const end = offset + Number(column.total_compressed_size);
  const values: Uint8Array[] = [];
  let pages = 0;
  while (offset < end && values.length < maxRows) {
    const { header, length } = await readHeader(file, offset, end);
    const v2 = header.data_page_header_v2;
    const v1 = header.data_page_header;
    const rows = v2?.num_rows ?? v1?.num_values;
    if (header.type === 'DICTIONARY_PAGE') throw new UnsupportedLayout('the column chunk has a dictionary page');
    if (rows === undefined || (header.type !== 'DATA_PAGE' && header.type !== 'DATA_PAGE_V2'))
      throw new UnsupportedLayout(`a ${header.type} page`);
    const encoding = v2?.encoding ?? v1?.encoding;
    if (encoding !== 'PLAIN') throw new UnsupportedLayout(`vectors encoded ${encoding}`);
    if (pages > 0 && values.length + rows > maxRows) break;
    const body = await file.read(offset + length, header.compressed_page_size);
    values.push(...decodePage(body, header, column.codec, element, compressors));
    pages++;
    offset += length + header.compressed_page_size;
  }
  return { values, pages };
}

function decodePage(
  body: Uint8Array,
  header: PageHeader,
  codec: CompressionCodec,
  element: SchemaElement,
  compressors: Record<string, (input: Uint8Array, outputLength: number) => Uint8Array>,
): Uint8Array[] {
  let plain: Uint8Array;
  let count: number;
  const v2 = header.data_page_header_v2;
  if (v2) {
    // Levels come first, uncompressed; with no nesting there are only definition levels, and
    // with no nulls (checked below) they say nothing.
    const levels = v2.definition_levels_byte_length + v2.repetition_levels_byte_length;
    const values = body.subarray(levels);
    plain =
      v2.is_compressed === false
        ? values
        : decompressPage(values, header.uncompressed_page_size - levels, codec, compressors);
    count = v2.num_values;
  } else {
    // A v1 page compresses its levels with its values: a nullable column's definition levels
    // come first, as a 4-byte length and that many bytes.
    plain = decompressPage(body, header.uncompressed_page_size, codec, compressors);
    count = header.data_page_header!.num_values;
    if (element.repetition_type === 'OPTIONAL')
      plain = plain.subarray(4 + new DataView(plain.buffer, plain.byteOffset, 4).getUint32(0, true));
  }
  const values: Uint8Array[] = [];
  if (element.type === 'FIXED_LEN_BYTE_ARRAY') {
    const width = element.type_length ?? 0;
    for (let at = 0; at + width <= plain.byteLength && width > 0; at += width)
      values.push(plain.subarray(at, at + width));
  } else {
    const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
    for (let at = 0; at + 4 <= plain.byteLength;) {
      const width = view.getUint32(at, true);
      values.push(plain.subarray(at + 4, at + 4 + width));
      at += 4 + width;
    }
  }
  // Fewer values than the page counts: some are null, which no vector of tessera's is.
  if (values.length !== count)
    throw new Error(`a page of ${count} vectors decodes to ${values.length} (null vectors?)`);
  return values;
}
