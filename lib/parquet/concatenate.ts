import fs from 'node:fs/promises';
import { parquetMetadata, type FileMetaData, type RowGroup } from 'hyparquet';
import { writeMetadata } from 'hyparquet-writer/src/metadata.js';
import { HashingFileWriter } from './hashing-file-writer.ts';

/**
 * Parquet files of one schema joined into one, without decoding anything: every row group's
 * column chunks are copied byte for byte, and a new footer lists them at their new offsets. What
 * makes compaction run at the speed of the disk: the files were written in the final encoding.
 */

const MAGIC = 0x31524150; // "PAR1", little-endian
const COPY_BYTES = 4 << 20;

/** A Parquet file's footer, read from its last bytes only. */
export async function readParquetFooter(file: string): Promise<FileMetaData> {
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size < 12) throw new Error(`${file} is not a Parquet file (${size} bytes)`);
    const tail = Buffer.alloc(8);
    await handle.read(tail, 0, 8, size - 8);
    if (tail.readUInt32LE(4) !== MAGIC) throw new Error(`${file} is not a Parquet file (no PAR1 at its end)`);
    const length = tail.readUInt32LE(0);
    if (length + 12 > size) throw new Error(`${file}: its footer length ${length} exceeds the file`);
    const footer = Buffer.alloc(length + 8);
    await handle.read(footer, 0, length + 8, size - 8 - length);
    return parquetMetadata(footer);
  } finally {
    await handle.close();
  }
}

/** Where a row group's column chunks start and end in its file (they are written back to back). */
function extent(group: RowGroup): { start: number; end: number } {
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  for (const column of group.columns) {
    const meta = column.meta_data;
    if (!meta) throw new Error('a column chunk without metadata (encrypted or external) cannot be copied');
    const first = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
    start = Math.min(start, first);
    end = Math.max(end, first + Number(meta.total_compressed_size));
  }
  return { start, end };
}

/** The row group as it sits `shift` bytes further on; page indexes and bloom filters are not carried over. */
function moved(group: RowGroup, shift: bigint): RowGroup {
  return {
    ...group,
    file_offset: group.file_offset === undefined ? undefined : group.file_offset + shift,
    columns: group.columns.map((column) => ({
      file_offset: column.file_offset + shift,
      meta_data: column.meta_data && {
        ...column.meta_data,
        data_page_offset: column.meta_data.data_page_offset + shift,
        dictionary_page_offset: column.meta_data.dictionary_page_offset === undefined ? undefined : column.meta_data.dictionary_page_offset + shift,
        index_page_offset: column.meta_data.index_page_offset === undefined ? undefined : column.meta_data.index_page_offset + shift,
        bloom_filter_offset: undefined,
        bloom_filter_length: undefined,
      },
    })),
  };
}

export interface ConcatenateOptions {
  createdBy: string;
  /** Called after each row group is copied (cancellation checks, failpoints). */
  afterRowGroup?: () => void | Promise<void>;
}

/**
 * Writes the row groups of `files`, in order, into `target` (fsynced); returns the footer it wrote
 * and the sha256 of the file, hashed as it was written. Every file must have the first one's schema.
 */
export async function concatenateParquet(files: readonly { file: string; footer: FileMetaData }[], target: string, options: ConcatenateOptions): Promise<{ metadata: FileMetaData; sha256: string }> {
  const output = new HashingFileWriter(target);
  try {
    output.appendUint32(MAGIC);
    const groups: RowGroup[] = [];
    const schema = JSON.stringify(files[0]?.footer.schema);
    for (const { file, footer } of files) {
      if (JSON.stringify(footer.schema) !== schema) throw new Error(`${file} has another schema than ${files[0]!.file}`);
      const handle = await fs.open(file, 'r');
      try {
        for (const group of footer.row_groups) {
          const { start, end } = extent(group);
          groups.push(moved(group, BigInt(output.offset - start)));
          for (let at = start; at < end; ) {
            const length = Math.min(COPY_BYTES, end - at);
            output.ensure(length);
            const { bytesRead } = await handle.read(new Uint8Array(output.buffer, output.index, length), 0, length, at);
            if (bytesRead !== length) throw new Error(`${file} ends before its row group does (at byte ${at + bytesRead})`);
            output.index += bytesRead;
            output.offset += bytesRead;
            at += bytesRead;
          }
          await options.afterRowGroup?.();
        }
      } finally {
        await handle.close();
      }
    }
    const first = files[0]?.footer;
    if (!first) throw new Error('nothing to concatenate');
    const metadata: FileMetaData = {
      version: first.version,
      schema: first.schema,
      num_rows: groups.reduce((sum, group) => sum + group.num_rows, 0n),
      row_groups: groups,
      key_value_metadata: first.key_value_metadata,
      created_by: options.createdBy,
      metadata_length: 0,
    };
    writeMetadata(output, metadata); // metadata_length is not one of the fields it writes
    output.appendUint32(MAGIC);
    return { metadata, sha256: output.close() };
  } catch (error) {
    output.release();
    await fs.rm(target, { force: true });
    throw error;
  }
}
