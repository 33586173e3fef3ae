import { parquetReadObjects, type FileMetaData } from 'hyparquet';
import type { ImageEmbedding } from '../eval/nearest-neighbour.ts';
import { readParquetFooter } from '../parquet/concatenate.ts';
import { parquetCompressors } from '../parquet/tile-writer.ts';
import { CountingFile, readLeadingPages, UnsupportedLayout } from './vector-pages.ts';

/**
 * A bounded sample of a vectors file's images, each mean-pooled (the mean of its tiles' vectors:
 * one vector of `channels` values per image). A run of a million images has a 80 GB vectors file;
 * the report must not read it. What is read: the footer, then the first rows of at most
 * MAX_SPOTS row groups spread evenly over the file, each only as far as its share of the image
 * budget (whole pages, see vector-pages.ts), with the small i, target and file columns of those
 * rows. A file that holds no more images than the budget is read whole.
 */

/** Row groups sampled at most: spread enough to meet many classes when the CSV is sorted by class. */
export const MAX_SPOTS = 64;

export interface SampleSpot {
  /** Row group index in the file. */
  group: number;
  /** The group's first row in the file. */
  firstRow: number;
  /** Rows of the group to read from its start (whole pages are read, never past the next page that would exceed this unless it is the first). */
  maxRows: number;
  /** Complete images kept from the spot at most. */
  maxImages: number;
}

/**
 * Where to read, from the row groups' sizes alone (pure, so its bound is unit-tested): every
 * group whole when the file holds at most `maxImages` images; else MAX_SPOTS (or fewer) groups
 * at evenly spaced positions, each read for ⌊maxImages / spots⌋ images from its start, so the
 * spots together ask for at most maxImages × tilesPerImage rows.
 */
export function planSample(groupRows: readonly number[], tilesPerImage: number, maxImages: number): SampleSpot[] {
  if (!(tilesPerImage >= 1) || !(maxImages >= 1))
    throw new Error(`planSample: tilesPerImage ${tilesPerImage} and maxImages ${maxImages} must be at least 1`);
  const firstRows: number[] = [];
  let total = 0;
  for (const rows of groupRows) {
    firstRows.push(total);
    total += rows;
  }
  if (total <= maxImages * tilesPerImage) {
    return groupRows
      .map((rows, group) => ({
        group,
        firstRow: firstRows[group]!,
        maxRows: rows,
        maxImages: Math.ceil(rows / tilesPerImage),
      }))
      .filter((spot) => spot.maxRows > 0);
  }
  const nonEmpty = groupRows.map((rows, group) => ({ rows, group })).filter(({ rows }) => rows > 0);
  const spots = Math.min(nonEmpty.length, MAX_SPOTS, maxImages);
  const perSpot = Math.floor(maxImages / spots);
  return Array.from({ length: spots }, (_, k) => {
    const { rows, group } = nonEmpty[Math.floor(((k + 0.5) * nonEmpty.length) / spots)]!;
    return { group, firstRow: firstRows[group]!, maxRows: Math.min(rows, perSpot * tilesPerImage), maxImages: perSpot };
  });
}

export interface VectorSample {
  images: ImageEmbedding[];
  channels: number;
  /** Images in the whole file (rows ÷ tiles per image). */
  totalImages: number;
  rowGroups: number;
  rowGroupsRead: number;
  pagesRead: number;
  /** Row groups whose vectors had to be read whole (a layout read-by-page does not decode). */
  wholeGroups: number;
  bytesRead: number;
  fileBytes: number;
  /** Every image of the file is in the sample. */
  complete: boolean;
}

function rowNumber(value: unknown, column: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  throw new Error(`column ${column} holds ${typeof value}, expected an integer`);
}

/** The sample of `file` (tessera's row schema), at most `maxImages` images. */
export async function sampleImageVectors(
  file: string,
  tilesPerImage: number,
  maxImages: number,
): Promise<VectorSample> {
  const footer: FileMetaData = await readParquetFooter(file);
  const vectorElement = footer.schema.find((element) => element.name === 'vector');
  if (!vectorElement) throw new Error(`${file} has no vector column`);
  const groupRows = footer.row_groups.map((group) => Number(group.num_rows));
  const spots = planSample(groupRows, tilesPerImage, maxImages);
  const counting = await CountingFile.open(file);
  const compressors = await parquetCompressors();
  const images: ImageEmbedding[] = [];
  let [pagesRead, wholeGroups, channels] = [0, 0, 0];
  try {
    for (const spot of spots) {
      const chunk = footer.row_groups[spot.group]!.columns.find(
        (column) => column.meta_data?.path_in_schema[0] === 'vector',
      )?.meta_data;
      if (!chunk) throw new Error(`${file}: row group ${spot.group} has no vector column chunk`);
      let vectors: Uint8Array[];
      try {
        const pages = await readLeadingPages(counting, chunk, vectorElement, spot.maxRows, compressors);
        vectors = pages.values;
        pagesRead += pages.pages;
      } catch (error) {
        if (!(error instanceof UnsupportedLayout)) throw error;
        // Another writer's layout: hyparquet decodes it, fetching the group's whole vector chunk.
        wholeGroups++;
        const rows = await parquetReadObjects({
          file: counting.asyncBuffer(),
          metadata: footer,
          columns: ['vector'],
          rowStart: spot.firstRow,
          rowEnd: spot.firstRow + spot.maxRows,
          compressors,
          utf8: false,
          rowFormat: 'object',
        });
        vectors = rows.map(({ vector }) => {
          if (!(vector instanceof Uint8Array))
            throw new Error(`${file}: the vector column holds ${typeof vector}, expected bytes`);
          return vector;
        });
      }
      const keys = await parquetReadObjects({
        file: counting.asyncBuffer(),
        metadata: footer,
        columns: ['i', 'target', 'file'],
        rowStart: spot.firstRow,
        rowEnd: spot.firstRow + vectors.length,
        compressors,
        rowFormat: 'object',
      });
      const pooled = meanPool(
        keys.map((row) => ({
          i: rowNumber(row.i, 'i'),
          target: rowNumber(row.target, 'target'),
          file: String(row.file),
        })),
        vectors,
        tilesPerImage,
      );
      channels ||= pooled[0]?.vector.length ?? 0;
      images.push(...pooled.slice(0, spot.maxImages));
    }
  } finally {
    await counting.close();
  }
  const totalRows = groupRows.reduce((sum, rows) => sum + rows, 0);
  return {
    images,
    channels,
    totalImages: Math.floor(totalRows / tilesPerImage),
    rowGroups: groupRows.length,
    rowGroupsRead: spots.length,
    pagesRead,
    wholeGroups,
    // The footer and its length, read by readParquetFooter (its last 8 bytes, then the footer).
    bytesRead: counting.bytesRead + 8 + footer.metadata_length + 8,
    fileBytes: counting.size,
    complete: images.length === Math.floor(totalRows / tilesPerImage),
  };
}

/**
 * The mean of each complete image's tile vectors (float32 little-endian), in row order. An image
 * is the rows whose i ÷ tilesPerImage agree (i is ordinal × tiles + tile); one cut by the end of
 * what was read has fewer rows and is left out.
 */
export function meanPool(
  keys: readonly { i: number; target: number; file: string }[],
  vectors: readonly Uint8Array[],
  tilesPerImage: number,
): ImageEmbedding[] {
  if (keys.length !== vectors.length) throw new Error(`${keys.length} keys for ${vectors.length} vectors`);
  const images: ImageEmbedding[] = [];
  for (let start = 0; start < keys.length;) {
    const image = Math.floor(keys[start]!.i / tilesPerImage);
    let end = start + 1;
    while (end < keys.length && Math.floor(keys[end]!.i / tilesPerImage) === image) end++;
    if (end - start === tilesPerImage) {
      const width = vectors[start]!.byteLength;
      if (width % 4 !== 0) throw new Error(`a vector of ${width} bytes is not float32 values`);
      const sum = new Float64Array(width / 4);
      for (let row = start; row < end; row++) {
        const bytes = vectors[row]!;
        if (bytes.byteLength !== width)
          throw new Error(`vectors of ${bytes.byteLength} and ${width} bytes in one image`);
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        for (let c = 0; c < sum.length; c++) sum[c]! += view.getFloat32(c * 4, true);
      }
      images.push({
        file: keys[start]!.file,
        target: keys[start]!.target,
        vector: Float32Array.from(sum, (value) => value / tilesPerImage),
      });
    }
    start = end;
  }
  return images;
}
