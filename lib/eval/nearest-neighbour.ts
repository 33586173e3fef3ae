import { DuckDBInstance } from '@duckdb/node-api';

export interface ImageEmbedding {
  file: string;
  target: number;
  vector: Float32Array;
}

/** Mean of each image's tile vectors, read from a vectors.parquet with DuckDB. */
export async function meanPooledEmbeddings(vectorsParquet: string): Promise<ImageEmbedding[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(
      `SELECT file, target, vector FROM read_parquet('${vectorsParquet.replaceAll("'", "''")}') ORDER BY i`,
    );
    const byFile = new Map<string, { target: number; sum: Float64Array; count: number }>();
    for (const [file, target, blob] of reader.getRows() as [string, number, { bytes: Uint8Array }][]) {
      const bytes = blob.bytes;
      const tile = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      let entry = byFile.get(file);
      if (!entry) byFile.set(file, (entry = { target, sum: new Float64Array(tile.length), count: 0 }));
      for (let c = 0; c < tile.length; c++) entry.sum[c]! += tile[c]!;
      entry.count++;
    }
    return [...byFile].map(([file, { target, sum, count }]) => ({
      file,
      target,
      vector: Float32Array.from(sum, (v) => v / count),
    }));
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * Leave-one-out 1-nearest-neighbour class accuracy under cosine similarity: each image's nearest
 * other image (highest cosine; on a tie the earlier one) votes for its class.
 */
export function leaveOneOutAccuracy(embeddings: readonly ImageEmbedding[]): number {
  const neighbours = nearestNeighbours(embeddings);
  let correct = 0;
  neighbours.forEach((b, a) => {
    if (b >= 0 && embeddings[b]!.target === embeddings[a]!.target) correct++;
  });
  return embeddings.length > 0 ? correct / embeddings.length : 0;
}

/**
 * The index of each embedding's nearest other one under cosine similarity (-1 when there is no
 * other), on a tie the earliest. The unit vectors (rounded to float32, as a Float32Array would
 * hold them) sit in one flat array and each pair's dot product is computed once for both ends:
 * 2,000 images of 320 channels take about 1.3 s here, where an array of vectors took 5.3 s.
 * Candidates still reach each row in ascending order, so ties resolve as a plain scan would.
 */
export function nearestNeighbours(embeddings: readonly ImageEmbedding[]): Int32Array {
  const n = embeddings.length;
  const d = embeddings[0]?.vector.length ?? 0;
  const unit = new Float64Array(n * d);
  embeddings.forEach(({ vector }, a) => {
    if (vector.length !== d) throw new Error(`embedding ${a} has ${vector.length} values, the first has ${d}`);
    let sum = 0;
    for (let c = 0; c < d; c++) sum += vector[c]! * vector[c]!;
    const norm = Math.sqrt(sum) || 1;
    for (let c = 0; c < d; c++) unit[a * d + c] = Math.fround(vector[c]! / norm);
  });
  const best = new Float64Array(n).fill(-Infinity);
  const nearest = new Int32Array(n).fill(-1);
  for (let a = 0; a < n; a++) {
    const rowA = a * d;
    for (let b = a + 1; b < n; b++) {
      const rowB = b * d;
      let dot = 0;
      for (let c = 0; c < d; c++) dot += unit[rowA + c]! * unit[rowB + c]!;
      if (dot > best[a]!) {
        best[a] = dot;
        nearest[a] = b;
      }
      if (dot > best[b]!) {
        best[b] = dot;
        nearest[b] = a;
      }
    }
  }
  return nearest;
}
