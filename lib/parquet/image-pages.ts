import fs from 'node:fs/promises';
import { parquetRead, type ColumnMetaData, type FileMetaData, type PageHeader } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { readAt } from '../core/read-at.ts';
import { parquetCompressors, type EncodedVectorPage } from './tile-writer.ts';

/**
 * Images' vector pages found in a tile-vectors file that TileParquetWriter wrote (a page per
 * image), to be copied into another file as they are. A page is taken only when everything about
 * it says it is one whole image in this writer's layout: a data page v2, PLAIN, no nulls or
 * levels, exactly `tiles` rows of `tiles × width` bytes, whose `i` values are one image's
 * ordinal × tiles + 0…tiles−1 in order. Anything else (another writer's pages, an earlier
 * tessera's pages of ~1 MiB) is not returned, and the caller decodes those rows instead.
 */
export interface ImagePage {
  page: EncodedVectorPage;
  /** Each tile's grid cell, in tile order. */
  x: Int32Array;
  y: Int32Array;
}

/** The pages of the images `wanted` (by ordinal) that `file` holds in the copyable layout. */
export async function readImagePages(
  file: string,
  footer: FileMetaData,
  tiles: number,
  wanted: ReadonlySet<number>,
): Promise<Map<number, ImagePage>> {
  const found = new Map<number, ImagePage>();
  const vectorElement = footer.schema.find((element) => element.name === 'vector');
  const width = vectorElement?.type_length;
  if (width === undefined || vectorElement?.type !== 'FIXED_LEN_BYTE_ARRAY' || wanted.size === 0) return found;
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const fileBuffer = {
      byteLength: size,
      slice: async (start: number, end = size) => (await readAt(handle, start, end - start, file)).buffer,
    };
    const compressors = await parquetCompressors();
    let groupStart = 0;
    for (const group of footer.row_groups) {
      const rows = Number(group.num_rows);
      const rowStart = groupStart;
      groupStart += rows;
      const column = (name: string) =>
        group.columns.find((chunk) => chunk.meta_data?.path_in_schema.join('.') === name)?.meta_data;
      const vector = column('vector');
      const iStats = column('i')?.statistics;
      if (
        !vector ||
        vector.dictionary_page_offset !== undefined ||
        iStats?.min_value === undefined ||
        iStats.max_value === undefined
      )
        continue;
      if (
        !anyWanted(wanted, Math.floor(Number(iStats.min_value) / tiles), Math.floor(Number(iStats.max_value) / tiles))
      )
        continue;

      const columns: Record<string, Int32Array> = {};
      await parquetRead({
        file: fileBuffer,
        metadata: footer,
        columns: ['i', 'x', 'y'],
        rowStart,
        rowEnd: rowStart + rows,
        compressors,
        onChunk: ({ columnName, columnData, rowStart: chunkStart }) => {
          // Whole row groups are asked for, so each chunk starts at the group's first row.
          if (chunkStart === rowStart && columnData.length === rows)
            columns[columnName] = Int32Array.from(columnData as ArrayLike<number>);
        },
      });
      const [i, x, y] = [columns.i, columns.x, columns.y];
      if (!i || !x || !y) continue;
      for (const { ordinal, first, page } of await imagePagesOf(handle, file, vector, i, tiles, width)) {
        if (wanted.has(ordinal))
          found.set(ordinal, { page, x: x.slice(first, first + tiles), y: y.slice(first, first + tiles) });
      }
    }
  } finally {
    await handle.close();
  }
  return found;
}

/** The chunk's pages that are each one whole image, with the row each starts at in the group. */
async function imagePagesOf(
  handle: fs.FileHandle,
  file: string,
  vector: ColumnMetaData,
  i: Int32Array,
  tiles: number,
  width: number,
): Promise<{ ordinal: number; first: number; page: EncodedVectorPage }[]> {
  const bytes = await readAt(handle, Number(vector.data_page_offset), Number(vector.total_compressed_size), file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pages: { ordinal: number; first: number; page: EncodedVectorPage }[] = [];
  let row = 0;
  for (let offset = 0; offset < bytes.byteLength;) {
    const reader = { view, offset };
    const header: PageHeader = parquetHeader(reader);
    const data = bytes.subarray(reader.offset, reader.offset + header.compressed_page_size);
    offset = reader.offset + header.compressed_page_size;
    const v2 = header.data_page_header_v2;
    const pageRows = v2?.num_rows ?? header.data_page_header?.num_values ?? 0;
    const first = row;
    row += pageRows;
    if (
      !v2 ||
      header.type !== 'DATA_PAGE_V2' ||
      v2.encoding !== 'PLAIN' ||
      v2.is_compressed === false ||
      header.crc !== undefined
    )
      continue;
    if (
      v2.num_nulls !== 0 ||
      v2.num_values !== tiles ||
      pageRows !== tiles ||
      v2.definition_levels_byte_length !== 0 ||
      v2.repetition_levels_byte_length !== 0
    )
      continue;
    if (
      header.uncompressed_page_size !== tiles * width ||
      data.byteLength !== header.compressed_page_size ||
      first + tiles > i.length
    )
      continue;
    const start = i[first]!;
    if (start % tiles !== 0 || i[first + tiles - 1] !== start + tiles - 1) continue;
    // Copied out of the chunk, so that the chunk's 20 MB are not kept alive by one page.
    pages.push({
      ordinal: start / tiles,
      first,
      page: { codec: vector.codec, rows: tiles, uncompressedSize: header.uncompressed_page_size, data: data.slice() },
    });
  }
  return pages;
}

function anyWanted(wanted: ReadonlySet<number>, low: number, high: number): boolean {
  if (high - low < wanted.size) {
    for (let ordinal = low; ordinal <= high; ordinal++) if (wanted.has(ordinal)) return true;
    return false;
  }
  for (const ordinal of wanted) if (ordinal >= low && ordinal <= high) return true;
  return false;
}
