import { DuckDBInstance } from '@duckdb/node-api';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';

/** Runs SQL over files with a fresh in-memory DuckDB, independent of tessera's own code. */
export async function duckdbRows(sql: string): Promise<unknown[][]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRows();
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * The reference for one image, written independently of lib/: sharp to RGB at size × size,
 * x / 255 in CHW, one onnxruntime session on this thread, the chosen output as [C][H][W].
 */
export async function referenceFeatures(modelPath: string, imagePath: string, size: number, output: string) {
  const { data, info } = await sharp(imagePath)
    .resize(size, size, { fit: 'fill' })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected RGB, got ${info.channels} channels`);
  const input = new Float32Array(3 * size * size);
  for (let p = 0; p < size * size; p++) for (let c = 0; c < 3; c++) input[c * size * size + p] = data[p * 3 + c]! / 255;
  const session = await ort.InferenceSession.create(modelPath);
  try {
    const result = await session.run(
      { [session.inputNames[0]!]: new ort.Tensor('float32', input, [1, 3, size, size]) },
      [output],
    );
    const tensor = result[output]!;
    const [, channels, height, width] = tensor.dims as number[];
    return { data: tensor.data as Float32Array, channels: channels!, height: height!, width: width! };
  } finally {
    await session.release();
  }
}

/**
 * `actual` holds exactly the rows of `expected` (same i, file, target, x, y), `i` unique, and every
 * vector equal within float tolerance (|a − b| ≤ 1e-4 · max|b| per row).
 */
export async function assertSameVectors(actual: string, expected: string): Promise<void> {
  const read = async (file: string) =>
    (await duckdbRows(`SELECT i, file, target, x, y, vector FROM read_parquet('${file}') ORDER BY i`)).map((row) => ({
      key: row.slice(0, 5).map(String).join(','),
      vector: new Float32Array(Uint8Array.from((row[5] as { bytes: Uint8Array }).bytes).buffer),
    }));
  const [a, b] = await Promise.all([read(actual), read(expected)]);
  const distinct = new Set(a.map((row) => row.key.split(',')[0]));
  if (distinct.size !== a.length) throw new Error(`${actual}: ${a.length - distinct.size} duplicate values of i`);
  if (a.length !== b.length) throw new Error(`${actual}: ${a.length} rows, expected ${b.length}`);
  for (let r = 0; r < a.length; r++) {
    if (a[r]!.key !== b[r]!.key) throw new Error(`${actual}: row ${r} is (${a[r]!.key}), expected (${b[r]!.key})`);
    const x = a[r]!.vector;
    const y = b[r]!.vector;
    let scale = 0;
    let diff = 0;
    for (let k = 0; k < y.length; k++) {
      scale = Math.max(scale, Math.abs(y[k]!));
      diff = Math.max(diff, Math.abs(x[k]! - y[k]!));
    }
    if (x.length !== y.length || diff > 1e-4 * scale)
      throw new Error(`${actual}: vector of row ${r} differs by ${diff} (scale ${scale})`);
  }
}

export interface ReferenceRow {
  file: string;
  x: number;
  y: number;
  target: number;
  vector: Float32Array;
}

/**
 * Joins a vectors file with reference rows on (file, x, y), as bench/reference/compare_vectors.py
 * does: rows missing or extra, targets that differ, and the largest relative error of a tile
 * (max|a − b| / max|b| over its channels, robust to channels near zero).
 */
export async function compareWithReference(ours: string, reference: readonly ReferenceRow[]) {
  const key = (file: string, x: number, y: number) => `${file}|${x}|${y}`;
  const rows = await duckdbRows(`SELECT file, x, y, target, vector FROM read_parquet('${ours}')`);
  const byKey = new Map(
    rows.map(([file, x, y, target, vector]) => [
      key(String(file), Number(x), Number(y)),
      {
        target: Number(target),
        vector: new Float32Array(Uint8Array.from((vector as { bytes: Uint8Array }).bytes).buffer),
      },
    ]),
  );
  let compared = 0;
  let missing = 0;
  let targetMismatches = 0;
  let maxRelError = 0;
  for (const row of reference) {
    const found = byKey.get(key(row.file, row.x, row.y));
    if (!found) {
      missing++;
      continue;
    }
    compared++;
    targetMismatches += Number(found.target !== row.target);
    let scale = 0;
    let diff = found.vector.length === row.vector.length ? 0 : Infinity;
    for (let k = 0; k < row.vector.length; k++) {
      scale = Math.max(scale, Math.abs(row.vector[k]!));
      diff = Math.max(diff, Math.abs(found.vector[k]! - row.vector[k]!));
    }
    maxRelError = Math.max(maxRelError, diff / Math.max(scale, Number.MIN_VALUE));
  }
  return { compared, missing, extra: byKey.size - compared, targetMismatches, maxRelError };
}
